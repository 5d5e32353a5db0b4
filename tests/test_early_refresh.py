"""Expiry without a burst (SPEC 8.10): a hot entry is reloaded by one reader shortly before its
TTL ends (XFetch), while the others keep being served, and nobody waits on a lease for it; an
invalidation still removes value and refresh lease together (SPEC 8.3)."""

import threading
import time
from collections import Counter

import pytest

from caching import get_or_load
from caching.core import keys
from caching.core.entry import HIT, MISS, Entry
from caching.reads import leases
from posts.cache import post_key
from tests.conftest import closing_connections, entry
from tests.live import wait_until

TTL = 1  # seconds: the storm runs over many of them
LOAD_S = 0.05  # a load as long as a list page's on 100,000 posts (docs/benchmarks.md)


def storm(settings, beta: float, seconds: float) -> tuple[Counter, int, int]:
    """100 hot keys read without pause by 4 threads for ``seconds``, counted from two TTLs
    after every key was first loaded (the first loads take longer than a TTL): loads per key,
    reads that waited for another's load, and reads in all."""
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "TTLS": {**settings.CACHE_LAYER["TTLS"], "post": TTL},
        "EARLY_REFRESH_BETA": beta,
    }
    loads: Counter = Counter()
    waits, reads = [0], [0]
    lock = threading.Lock()
    waiting = leases.wait_for

    def counted_wait(*args, **kwargs):
        with lock:
            waits[0] += 1
        return waiting(*args, **kwargs)

    def loader(pk):
        def load():
            with lock:
                loads[pk] += 1
            time.sleep(LOAD_S)
            return entry({"id": pk})

        return load

    keys_ = [post_key(pk) for pk in range(1, 101)]
    stop = [float("inf")]

    def read(offset):
        n = offset
        while time.monotonic() < stop[0]:
            pk = n % 100 + 1
            get_or_load(keys_[pk - 1], loader(pk))
            n += 7
            with lock:
                reads[0] += 1

    leases.wait_for = counted_wait
    try:
        threads = [threading.Thread(target=closing_connections(read), args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(loads) == 100)  # every key loaded once
        time.sleep(2 * TTL)
        with lock:
            loads.clear()
            waits[0] = reads[0] = 0
        stop[0] = time.monotonic() + seconds
        for t in threads:
            t.join()
    finally:
        leases.wait_for = waiting
    return loads, waits[0], reads[0]


@pytest.mark.django_db
def test_hot_entries_are_refreshed_before_they_expire_and_nobody_waits(settings):
    seconds = 12 * TTL
    loads, waits, reads = storm(settings, beta=1.0, seconds=seconds)
    periods = seconds / TTL
    per_key_and_period = sum(loads.values()) / 100 / periods
    assert reads > 100 * periods  # every key read many times per period
    assert 0.5 <= per_key_and_period <= 2, loads  # refreshed about once per TTL, not a burst
    assert waits == 0  # no reader waited on a load at an expiry


@pytest.mark.django_db
@pytest.mark.parametrize(("beta", "before"), [(1.0, True), (0, False)])
def test_xfetch_starts_the_reload_before_the_ttl_ends(settings, redis, beta, before):
    """One hot key, a 1 s TTL, 4 readers: with beta 1 the reloads start before the stored
    value's TTL ends (XFetch); with beta 0, only after it."""
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "TTLS": {**settings.CACHE_LAYER["TTLS"], "post": TTL},
        "EARLY_REFRESH_BETA": beta,
    }
    key = post_key(1)
    physical = keys.physical(key)
    margins: list[float] = []  # ms left of the stored value's TTL when a reload starts

    def load():
        held = redis.get(physical)
        if held and not leases.is_lease(held):
            margins.append(Entry.stored(held).fresh_until - time.time() * 1000)
        time.sleep(LOAD_S)
        return entry({"id": 1})

    stop = time.monotonic() + 5 * TTL

    def read():
        while time.monotonic() < stop:
            get_or_load(key, load)

    threads = [threading.Thread(target=closing_connections(read)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(margins) >= 3  # reloads after the first load, about one per TTL
    early = [m > 0 for m in margins]
    assert all(early) if before else not any(early), margins


@pytest.mark.django_db
def test_past_its_ttl_an_entry_is_served_while_another_reader_reloads_it(settings, redis):
    """dogpile.cache's rule: while one reader holds the refresh lease of an entry past its TTL,
    the others are served the entry as hits (up to LEASE_MS past the TTL), not made to wait."""
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "TTLS": {**settings.CACHE_LAYER["TTLS"], "post": TTL},
        "EARLY_REFRESH_BETA": 0,
        "NEAR_ENABLED": False,
    }
    key = post_key(1)
    physical = keys.physical(key)
    assert get_or_load(key, lambda: entry({"v": 1})).status == MISS
    time.sleep(TTL + 0.1)  # past its TTL
    redis.set(keys.refresh_lease(physical), "another reader", px=10_000)
    began = time.monotonic()
    result = get_or_load(key, lambda: pytest.fail("not this reader's to load"))
    assert result.status == HIT and result.value.parts == entry({"v": 1}).parts
    assert time.monotonic() - began < 0.5  # served, not made to wait


@pytest.mark.django_db
def test_an_invalidation_stops_a_refresh_under_way_from_storing(settings, redis):
    """The reader chosen to refresh loads the old row; a write commits and invalidates (the
    value and its refresh lease go); the refresh's store is refused (SPEC 8.3)."""
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "TTLS": {**settings.CACHE_LAYER["TTLS"], "post": 1},
        "EARLY_REFRESH_BETA": 100.0,
    }
    key = post_key(1)
    physical = keys.physical(key)

    def first_load():
        time.sleep(0.02)  # the load time XFetch weighs: with beta 100, most reads are due
        return entry({"v": 1})

    assert get_or_load(key, first_load).status == MISS

    def old_load():  # the write lands while the refresh loads
        from caching.core.rules import Changes
        from caching.outbox.apply import apply

        apply(Changes(drop={key}))
        return entry({"v": "old"})

    result = None
    for _ in range(50):
        result = get_or_load(key, old_load)
        if result.status == MISS:
            break
    assert result is not None and result.status == MISS
    assert redis.get(physical) is None  # the old value was not stored after the invalidation
    assert redis.get(keys.refresh_lease(physical)) is None


@pytest.mark.django_db
@pytest.mark.parametrize("namespace", ["post", "posts"])
def test_a_reload_that_fails_after_a_write_is_not_answered_stale(settings, namespace):
    """The entry is past its TTL; its reload fails for want of the database after a write's
    invalidation (a detail unlinked, a list's generation moved): the failure stands, no STALE
    answer of what the write changed (SPEC 8.9)."""
    from caching.core.rules import Changes
    from caching.database.guard import DatabaseUnavailableError
    from caching.outbox.apply import apply
    from posts.cache import posts_page_key

    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "TTLS": {**settings.CACHE_LAYER["TTLS"], namespace: TTL},
        "EARLY_REFRESH_BETA": 0,
    }
    key = post_key(1) if namespace == "post" else posts_page_key(1)
    assert get_or_load(key, lambda: entry({"v": "old"})).status == MISS
    time.sleep(TTL + 0.1)

    def failing_reload():
        apply(Changes(drop={key}, advance={"posts"} if namespace == "posts" else set()))
        raise DatabaseUnavailableError("frozen")

    with pytest.raises(DatabaseUnavailableError):
        get_or_load(key, failing_reload)
