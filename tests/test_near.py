"""The near cache (SPEC 8.1 with a tier in every process): hits from memory, dropped by Redis's
invalidation pushes; not trusted while tracking is lost; a value on its way when an
invalidation is consumed is not kept; near hits counted in the shared figures."""

import time

import pytest

from bench.delay_proxy import DelayProxy
from caching.core import keys
from caching.core.state import STATE
from caching.near import tier
from caching.near.cache import NearCache
from caching.ops import stats as counters
from caching.reads.get_or_load import get_or_load
from caching.redis.connection import client
from posts.cache import post_key, posts_page_key
from tests.conftest import data, entry
from tests.live import wait_until
from tests.redis_server import RedisServer


def near_hits() -> int:
    return tier.CURRENT.tier.cache.hits if tier.CURRENT.tier is not None else 0


def until_near(read) -> None:
    """Call ``read()`` until one is served from this process's memory: a value is kept near by
    a read from Redis, and a near hit waits for a heartbeat answered after the last push (the
    reads' own lease and store send pushes too)."""

    seen: dict[str, int] = {}

    def near() -> bool:
        before = near_hits()
        status = getattr(read(), "status", "?")
        seen[status] = seen.get(status, 0) + 1
        return near_hits() > before

    def state() -> str:  # what the tier looked like, for a failure to say why
        held = tier.CURRENT.tier
        if held is None:
            return "no near tier"
        trackers = {name: t.trusted for name, t in held.trackers.items()}
        return f"reads {seen}, trackers trusted {trackers}, unconfirmed {held.unconfirmed}"

    try:
        wait_until(near, message="never served from the near cache")
    except AssertionError as error:
        raise AssertionError(f"{error}: {state()}") from None


@pytest.fixture(autouse=True)
def tracking(request, db):
    """A Redis of the test's own, this process's tracker connected and its first heartbeat
    answered: from here on a read that finds its key held is served near (on a cluster:
    tests/test_near_cluster.py)."""
    request.getfixturevalue("private_redis")
    wait_until(lambda: tier.tier().ready(), message="tracking is up")
    yield


def kill_tracking(redis) -> None:
    """CLIENT KILL this process's tracking connections (one per primary), by their name."""
    names = {tracker.name for tracker in tier.CURRENT.tier.trackers.values()}
    for row in redis.client_list():
        if row.get("name") in names:
            redis.execute_command("CLIENT", "KILL", "ID", row["id"])


def test_a_second_read_is_served_from_the_process_and_a_write_drops_it(db, redis):
    key = post_key(424242)
    assert get_or_load(key, lambda: entry({"v": 1})).status == "MISS"
    held = lambda: get_or_load(key, lambda: pytest.fail("a hit must not load"))  # noqa: E731
    assert data(held()) == {"v": 1}
    until_near(held)
    hit = held()
    assert data(hit) == {"v": 1} and hit.status == "HIT"
    redis.unlink(keys.physical(key))  # another process's write: Redis pushes the invalidation
    assert data(get_or_load(key, lambda: entry({"v": 2}))) == {"v": 2}


def test_a_list_page_is_dropped_when_its_generation_advances(db, redis):
    key = posts_page_key(1)
    until_near(lambda: get_or_load(key, lambda: entry(["old"])))
    redis.incr(keys.generation("posts"))  # another process's BUMP: a push names the counter
    assert data(get_or_load(key, lambda: entry(["new"]))) == ["new"]


def test_a_lost_tracking_connection_is_noticed_before_the_next_near_hit(db, redis):
    """Kill this process's tracking connection, then invalidate: that push never arrives, so
    the near copy must not be served; the read goes to Redis, which no longer holds the key."""
    key = post_key(434343)
    until_near(lambda: get_or_load(key, lambda: entry({"v": 1})))
    kill_tracking(redis)
    redis.unlink(keys.physical(key))  # another process's write, its push lost
    assert data(get_or_load(key, lambda: entry({"v": 2}))) == {"v": 2}
    assert not tier.CURRENT.tier.trackers  # bypassed until it reconnects (at most once a second)


def test_an_invalidation_consumed_while_a_value_is_on_its_way_cancels_its_fill():
    """The placeholder race, step by step: a reader reserves the key, Redis answers with the old
    value, the invalidation is consumed (by any thread) before the reader keeps the value."""
    from caching import Entry

    near = NearCache(max_entries=10, max_bytes=1 << 20)
    old = Entry((b'{"v":1}',))
    reservation = near.reserve("k", None)
    near.invalidate([b"k"])  # consumed between the reservation and the fill
    assert near.fill("k", reservation, old, 10, 60, None, 1) is False
    assert near.get("k", None, 1) is None
    # Without an invalidation in between, the same fill is kept.
    assert near.fill("k", near.reserve("k", None), old, 10, 60, None, 1) is True
    assert near.get("k", None, 1) is old


def test_a_generation_advance_consumed_while_a_page_is_on_its_way_cancels_its_fill():
    from caching import Entry

    near = NearCache(max_entries=10, max_bytes=1 << 20)
    page = Entry((b"[]",))
    reservation = near.reserve("page", "ns_gen")
    near.invalidate([b"ns_gen"])
    assert near.fill("page", reservation, page, 10, 60, "ns_gen", 1) is False
    kept = near.reserve("page", "ns_gen")
    assert near.fill("page", kept, page, 10, 60, "ns_gen", 1) is True
    near.invalidate([b"ns_gen"])
    assert near.get("page", "ns_gen", 1) is None


def test_the_near_cache_is_bounded_least_recently_used_first():
    from caching import Entry

    near = NearCache(max_entries=3, max_bytes=1 << 20)
    for name in "abcd":
        near.fill(name, near.reserve(name, None), Entry((b"x",)), 1, 60, None, 1)
        if name == "b":
            near.get("a", None, 1)  # a is used again: b is now the oldest
    assert len(near) == 3 and near.get("b", None, 1) is None and near.get("a", None, 1) is not None
    small = NearCache(max_entries=100, max_bytes=1000)
    for n in range(20):
        small.fill(str(n), small.reserve(str(n), None), Entry((b"x",)), 100, 60, None, 1)
    assert small.bytes <= 1000


def test_near_hits_count_as_hits_in_the_shared_figures(db, redis):
    key = post_key(454545)
    counters.reset_stats()
    reads = 0

    def read() -> None:
        nonlocal reads
        reads += 1
        get_or_load(key, lambda: entry({"v": 1}))

    until_near(read)
    before = near_hits()
    for _ in range(8):
        read()
    assert near_hits() > before  # near hits among the counted ones
    row = counters.stats(with_keys=False)["namespaces"]["post"]
    assert (row["hits"], row["misses"]) == (reads - 1, 1)
    minutes = counters.history(2)
    assert sum(m["hits"] for m in minutes) == reads - 1


def test_switched_off_every_hit_goes_to_redis(db, redis, settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "NEAR_ENABLED": False}
    key = post_key(464646)
    for _ in range(3):
        assert data(get_or_load(key, lambda: entry({"v": 1}))) == {"v": 1}
    assert tier.CURRENT.tier is None


def test_a_client_that_reaches_another_redis_drops_the_tracker(settings, capsys):
    """A name or an address that moves to another primary while the tracker's connection stays
    on the old one (a proxy that sends new connections elsewhere): the tracker would hear none of
    the writes. The upkeep thread compares run ids every NODE_CHECK_S, drops it (no near hit
    from then on) and connects again, to the new server."""
    with RedisServer() as old, RedisServer() as new, DelayProxy("127.0.0.1", old.port, 0) as proxy:
        try:
            settings.CACHES = {
                "default": {
                    **settings.CACHES["default"],
                    "LOCATION": f"redis://127.0.0.1:{proxy.port}/0",
                }
            }
            wait_until(lambda: tier.tier().ready(), message="tracking is up")
            key = post_key(484848)
            for _ in range(3):
                get_or_load(key, lambda: entry({"v": 1}))
            near = tier.CURRENT.tier
            assert near.cache.get(keys.physical(key), None, near.trackers[""].generation)
            proxy.upstream = new.port  # new connections reach the other server
            client().connection_pool.disconnect()
            moved_at = time.monotonic()
            new.client().unlink(keys.physical(key))  # another process's write, on the new server
            old_tracker = near.trackers[""]
            wait_until(lambda: near.trackers.get("") is not old_tracker, interval=0.01)
            dropped = time.monotonic() - moved_at
            assert data(get_or_load(key, lambda: entry({"v": 2}))) == {"v": 2}
            moved = new.client().info("server")["run_id"]
            wait_until(lambda: "" in near.trackers and near.trackers[""].link.run_id == moved)
            with capsys.disabled():
                print(f"\nthe tracker left the old server {dropped:.2f} s after the move")
            assert dropped < tier.NODE_CHECK_S + 5  # the check's period, and a loaded machine
        finally:
            STATE.reset()  # before the servers go
