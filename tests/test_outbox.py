"""The outbox and the breaker in detail: another process's undelivered invalidation is found
within the check window, bad rows do not break reads, the breaker never sticks."""

import threading
import time

import psycopg
import pytest
import redis as redis_lib
from django.db import connection
from redis._parsers.base import BaseParser

from caching.core.rules import Changes
from caching.outbox.models import OutboxEntry
from caching.redis import policy
from caching.redis.policy import Breaker, CacheFullError, CacheUnavailableError, _unavailable
from posts.cache import post_key
from tests.factories import make_post, make_user
from tests.live import WAIT_TIMEOUT, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_busy_process_finds_another_process_backlog_within_the_window(api, settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "OUTBOX_CHECK_AFTER_MS": 200}
    post = make_post(make_user(), title="v1")
    url = f"/api/posts/{post.pk}/"
    api.get(url)
    assert api.get(url)["X-Cache"] == "HIT"
    # Another process committed v2 but could not reach Redis: the row changed, the entry waits.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE posts_post SET title = 'v2' WHERE id = %s", [post.pk])
    OutboxEntry.objects.create(payload=Changes(drop={post_key(post.pk)}).payload())
    created = time.monotonic()
    # This process keeps hitting Redis meanwhile; a read that starts once the 200 ms window has
    # passed since the entry was committed checks the outbox, so it must not serve v1.
    stale_reads = []

    def replayed() -> bool:
        started = time.monotonic()
        if api.get(url).json()["title"] == "v2":
            return True
        stale_reads.append(started - created)
        return False

    wait_until(replayed, interval=0)
    assert all(after < 0.2 for after in stale_reads), (
        f"v1 served {max(stale_reads):.3f} s after the entry"
    )
    assert OutboxEntry.objects.count() == 0


def test_a_doubting_read_waits_for_an_entry_another_process_is_delivering(api, settings):
    """A write that has just committed holds its entry while it delivers it (or another process
    replays it): a read that checks the outbox then waits a moment for it instead of bypassing."""
    # Every read checks; the wait is bounded by LEASE_WAIT_MS, here longer than any delivery on a
    # loaded machine (the bound itself is not what this test is about).
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "OUTBOX_CHECK_AFTER_MS": 0,
        "LEASE_WAIT_MS": 60_000,
    }
    post = make_post(make_user(), title="v1")
    url = f"/api/posts/{post.pk}/"
    api.get(url)
    entry = OutboxEntry.objects.create(payload=Changes(drop={post_key(post.pk)}).payload())
    db = connection.settings_dict
    holder = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
    holder.execute("SELECT id FROM caching_outboxentry WHERE id = %s FOR UPDATE", [entry.pk])
    reading = threading.Event()
    delivered = []

    def read_is_waiting() -> bool:
        """The read has found the row locked and polls for it (``delivered_by_others``): its
        session's last statement is that poll."""
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
        ) as probe:
            (found,) = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE %s",
                ['%FROM "caching_outboxentry" WHERE "caching_outboxentry"."id" <=%'],
            ).fetchone()
        return found > 0

    def deliver():  # as the other process does: apply, then delete the row and commit
        assert reading.wait(WAIT_TIMEOUT)
        wait_until(read_is_waiting, message="the read never waited for the delivery")
        holder.execute("DELETE FROM caching_outboxentry WHERE id = %s", [entry.pk])
        # Stamped before the commit: the read may answer as soon as it lands, before this thread
        # runs again to stamp anything.
        delivered.append(time.monotonic())
        holder.commit()

    other = threading.Thread(target=deliver)
    other.start()
    try:
        reading.set()
        response = api.get(url)
        answered = time.monotonic()
    finally:
        other.join()
        holder.close()
    # A hit (not a bypass), answered after the delivery's commit began: the read waited for it.
    assert response["X-Cache"] == "HIT" and delivered and delivered[0] <= answered


def test_an_entry_for_a_namespace_no_longer_registered_is_dropped_not_fatal(api, settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "OUTBOX_CHECK_AFTER_MS": 0}  # check every read
    post = make_post(make_user())
    OutboxEntry.objects.create(
        payload={"keys": [["gone", "gone:1"], ["post", f"post:{post.pk}"]], "namespaces": ["gone"]}
    )
    assert api.get(f"/api/posts/{post.pk}/").status_code == 200
    assert OutboxEntry.objects.count() == 0


@pytest.mark.parametrize(
    "reply",
    [
        "MISCONF no disk",
        "BUSY script",
        "LOADING data",
        "MASTERDOWN link",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MOVED 3999 127.0.0.1:6381",
        "ASK 3999 127.0.0.1:6381",
        "READONLY You can't write against a read only replica.",
    ],
)
def test_replies_of_a_redis_that_cannot_serve_count_as_unavailable(reply):
    """As redis-py's parser turns the reply into an exception (a class for most, the bare reply
    for the rest)."""
    assert _unavailable(BaseParser.parse_error(reply))


@pytest.mark.parametrize(
    "reply",
    ["WRONGTYPE Operation against a key", "NOSCRIPT No matching script", "ERR syntax error"],
)
def test_other_error_replies_are_bugs(reply):
    assert not _unavailable(BaseParser.parse_error(reply))


def test_an_out_of_memory_refusal_is_not_an_outage(redis):
    """-OOM (maxmemory under noeviction): Redis answered, the write was not made. Callers get
    CacheFullError (a CacheUnavailableError: "not stored"); the breaker stays closed, and the
    process checks the outbox before its next hit (the refused write may have been an
    invalidation)."""

    def refused(r):
        raise BaseParser.parse_error("OOM command not allowed when used memory > 'maxmemory'.")

    before = time.monotonic()
    for _ in range(5):
        with pytest.raises(CacheFullError):
            policy.call(refused)
    assert policy.breaker().closed() and policy.breaker().failures == 0
    assert policy.doubted_since(before)


def test_a_probe_answered_with_an_error_reply_closes_the_breaker(settings, redis, cache_prefix):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_MS": 0}
    breaker = policy.breaker()
    for _ in range(3):
        breaker.failed(redis_lib.ConnectionError("down"))
    assert breaker.state == Breaker.OPEN
    redis.set(f"{cache_prefix}:str", "x")
    with pytest.raises(redis_lib.ResponseError):  # WRONGTYPE: Redis answered, the bug is ours
        policy.call(lambda r: r.lpush(f"{cache_prefix}:str", "y"))
    assert breaker.state == Breaker.CLOSED
    assert policy.call(lambda r: r.ping())


def test_a_probe_that_dies_leaves_the_breaker_open_for_the_next_probe(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_MS": 0}
    breaker = policy.breaker()
    for _ in range(3):
        breaker.failed(redis_lib.ConnectionError("down"))

    def interrupted(r):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        policy.call(interrupted)
    assert breaker.state == Breaker.OPEN
    assert policy.call(lambda r: r.ping()) and breaker.state == Breaker.CLOSED
    with pytest.raises(CacheUnavailableError):
        settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_MS": 60_000}
        for _ in range(3):
            policy.breaker().failed(redis_lib.ConnectionError("down"))
        policy.call(lambda r: r.ping())
