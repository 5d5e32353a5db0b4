"""Leases against stale sets (SPEC 8.3) and stampedes (SPEC 8.4), on the real Redis, with the
concurrent write or the concurrent readers happening for real during a load."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from caching.core import keys
from caching.ops import keyspace
from caching.ops import stats as counters
from caching.reads.get_or_load import get_or_load
from posts.cache import post_key, posts_page_key
from posts.entries import post_detail, post_page
from posts.models import Post
from tests.conftest import closing_connections, data, entry
from tests.factories import make_post, make_user
from tests.live import WAIT_TIMEOUT, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def post(db):
    return make_post(make_user(), title="v1", category="redis")


def test_a_load_that_raced_a_committed_write_is_not_stored(post):
    """The reader loads v1, then a write commits v2 and invalidates, then the reader stores."""
    keyspace.clear_namespace("post")

    def load_then_lose_the_race():
        old = post_detail(post.pk)
        Post.objects.filter(pk=post.pk).update(title="v2")  # commits and invalidates now
        return old

    first = get_or_load(post_key(post.pk), load_then_lose_the_race)
    assert first.status == "MISS" and data(first)["title"] == "v1"  # began before the write
    after = get_or_load(post_key(post.pk), lambda: post_detail(post.pk))
    assert after.status == "MISS" and data(after)["title"] == "v2"


def test_a_list_load_that_raced_a_committed_write_is_not_served(post):
    key = posts_page_key(1, category="redis")

    def load_then_lose_the_race():
        old = post_page(1, category="redis")
        Post.objects.filter(pk=post.pk).update(title="v2")
        return old

    assert data(get_or_load(key, load_then_lose_the_race))[0]["title"] == "v1"
    after = get_or_load(key, lambda: post_page(1, category="redis"))
    assert after.status == "MISS" and data(after)[0]["title"] == "v2"


def test_an_expired_lease_cannot_store_over_a_newer_one(post, settings, redis):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "LEASE_MS": 100, "LEASE_WAIT_MS": 0}
    keyspace.clear_namespace("post")
    key = post_key(post.pk)
    started, fresh_stored = threading.Event(), threading.Event()

    def slow_old():
        started.set()
        assert fresh_stored.wait(
            WAIT_TIMEOUT
        )  # outlives its 100 ms lease: stores after the newer value
        return entry({"title": "slow"})

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(closing_connections(get_or_load), key, slow_old)
        assert started.wait(WAIT_TIMEOUT)
        wait_until(lambda: redis.get(keys.physical(key)) is None)  # the slow reader's lease expired
        # The newer reader's lease lasts however long a loaded machine takes to load and store.
        settings.CACHE_LAYER = {**settings.CACHE_LAYER, "LEASE_MS": 120_000}
        try:
            fresh = get_or_load(key, lambda: post_detail(post.pk))
        finally:
            fresh_stored.set()
        assert data(slow.result()) == {"title": "slow"}
    assert fresh.status == "MISS"
    assert data(get_or_load(key, lambda: entry({"title": "unexpected"})))["title"] == "v1"


def test_fifty_concurrent_cold_misses_cause_one_load(post, settings):
    # However long the fifty take to arrive, the lease holds and every waiter waits for the load.
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "LEASE_MS": 120_000, "LEASE_WAIT_MS": 60_000}
    keyspace.clear_namespace("post")
    counters.reset_stats()
    calls = []
    barrier = threading.Barrier(50)

    def loader():
        calls.append(1)
        # A slow query: it ends once every other reader has arrived and missed.
        wait_until(lambda: counters.stats(with_keys=False)["namespaces"]["post"]["misses"] == 50)
        return post_detail(post.pk)

    @closing_connections
    def read(_):
        barrier.wait()
        return get_or_load(post_key(post.pk), loader)

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(read, range(50)))
    assert len(calls) == 1
    assert {data(r)["title"] for r in results} == {"v1"}
    stats = counters.stats(with_keys=False)["namespaces"]["post"]
    assert stats["loads"] == 1 and stats["misses"] == 50


def test_waiters_fall_back_to_the_database_after_the_bounded_wait_and_store_nothing(post, settings):
    # The holder's lease outlasts its load however slow the machine; waiters wait 100 ms.
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "LEASE_MS": 120_000, "LEASE_WAIT_MS": 100}
    keyspace.clear_namespace("post")
    counters.reset_stats()
    holder_started, release = threading.Event(), threading.Event()

    def stuck_loader():
        holder_started.set()
        assert release.wait(WAIT_TIMEOUT)  # a load that ends only when the test says so
        return post_detail(post.pk)

    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(closing_connections(get_or_load), post_key(post.pk), stuck_loader)
        assert holder_started.wait(WAIT_TIMEOUT)
        began = time.monotonic()
        try:
            waiter = get_or_load(post_key(post.pk), lambda: entry({"title": "from the database"}))
            waited = time.monotonic() - began
            held = not holder.done()
        finally:
            release.set()
        assert data(waiter) == {"title": "from the database"} and waiter.status == "MISS"
        # It waited its 100 ms, and gave up by itself: the holder's load had not ended.
        assert waited >= 0.1 and held
        assert data(holder.result())["title"] == "v1"
    assert data(get_or_load(post_key(post.pk), lambda: None))["title"] == "v1"  # the holder's value
    assert counters.stats(with_keys=False)["namespaces"]["post"]["loads"] == 2
