"""The invalidation outbox: no invalidation is lost while Redis is slow or down (SPEC 8.6).

Every write's invalidation is stored as an ``OutboxEntry`` in the write's own transaction. After
commit it is applied to Redis and the entry deleted; if Redis cannot take it the entry stays.
Entries left behind are replayed, oldest first, by the first read of a process that has reason
to doubt the cache (it has just started, Redis failed since its last check, or it has not
reached Redis for ``OUTBOX_CHECK_AFTER_MS``), and by ``manage.py cache_replay``. Until the
backlog is delivered such a process reads from the database. Replay is idempotent: deleting a
key twice is harmless, and advancing a generation twice only drops more.
"""

import json
import logging
import threading
import time

from django.db import transaction

from caching import client, service
from caching.client import CacheUnavailable
from caching.conf import options
from caching.models import OutboxEntry
from caching.registry import Changes
from caching.transaction import in_application_transaction

log = logging.getLogger("caching")
BATCH = 500

_lock = threading.Lock()
_checked_at = 0.0  # monotonic time of this process's last clean check; 0: never


def record(changes: Changes) -> int:
    """Store ``changes`` in the current transaction; returns the entry's id."""
    return OutboxEntry.objects.create(payload=changes.payload()).pk


def deliver(entry_id: int, changes: Changes) -> None:
    """After commit: apply ``changes`` to Redis, then drop the entry and write through.

    If Redis cannot take it, the entry stays for replay. The attempt is made even while this
    process's breaker is open: Redis may be back (a replica promoted) before the breaker's probe
    tells this process, and an entry left in the outbox is stale for other processes until
    their next check (``OUTBOX_CHECK_AFTER_MS``). While Redis is down, a write pays at most
    the timeout for it; reads stay behind the breaker.
    """
    try:
        service.apply(changes, through_open_breaker=True)
    except CacheUnavailable as error:
        log.warning("event=invalidation_queued entry=%d keys=%d namespaces=%d error=%s", entry_id, len(changes.keys), len(changes.namespaces), json.dumps(str(error)))
        return
    OutboxEntry.objects.filter(pk=entry_id).delete()
    for key, loader in changes.primes.items():
        service.prime(key, loader)


def replay(*, batches: int | None = None) -> int:
    """Deliver undelivered entries, oldest first, in batches (all, or ``batches`` of them);
    returns how many. Raises CacheUnavailable if Redis fails midway (what was delivered stays
    delivered). Concurrent replays skip each other's locked batches.
    """
    delivered = 0
    while batches is None or delivered < batches * BATCH:
        with transaction.atomic():
            batch = list(OutboxEntry.objects.select_for_update(skip_locked=True).order_by("id")[:BATCH])
            if not batch:
                break
            merged = Changes()
            for entry in batch:
                merged.merge(Changes.from_payload(entry.payload))
            service.apply(merged)
            OutboxEntry.objects.filter(pk__in=[entry.pk for entry in batch]).delete()
        delivered += len(batch)
    if delivered:
        log.warning("event=outbox_replayed delivered=%d left=%d", delivered, backlog())
    return delivered


def backlog() -> int:
    return OutboxEntry.objects.count()


def _recently_checked() -> bool:
    return bool(_checked_at) and client.last_failure() < _checked_at and time.monotonic() - _checked_at < options().outbox_check_after_ms / 1000


def _delivered_by_others() -> bool:
    """Whether the entries a replay left (rows another process's replay holds locked, or rows
    a write that has just committed is about to delete after delivering them itself) are gone
    within ``LEASE_WAIT_MS``. They are in flight, not lost: a few milliseconds' wait beats a
    database read. Entries that commit meanwhile belong to writes concurrent with this read:
    not waited for."""
    last = OutboxEntry.objects.order_by("-id").values_list("id", flat=True).first()
    deadline = time.monotonic() + options().lease_wait_ms / 1000
    delay = 0.002
    while last is not None and OutboxEntry.objects.filter(id__lte=last).exists():
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        replay(batches=1)  # rows their holder let go of without delivering (it failed)
    return True


def cache_is_trusted() -> bool:
    """May this process serve from the cache now? Replays the backlog first when in doubt.

    In doubt means: never checked, Redis failed since the last check, or the last check is
    older than ``OUTBOX_CHECK_AFTER_MS`` (another process's undelivered invalidation shows up
    within that window). A check is one query; with a backlog, one batch is replayed per read
    and the cache is trusted only once none is left; entries other processes are delivering
    at that moment are waited for (at most ``LEASE_WAIT_MS``). While the breaker is open
    (until its probe succeeds), while another thread is checking, or inside an application
    transaction, a doubting read bypasses; a read that finds another thread checking waits for
    it (at most ``LEASE_WAIT_MS``), so a cold process does not send a burst of reads to the
    database.
    """
    global _checked_at
    if _recently_checked():
        return True
    if in_application_transaction() or not _lock.acquire(timeout=options().lease_wait_ms / 1000):
        return False
    try:
        if _recently_checked():  # by the thread this one waited for
            return True
        now = time.monotonic()
        if not client.breaker.closed():
            client.call(lambda r: r.ping())  # the probe, once the cooldown is over
        if OutboxEntry.objects.exists():
            if replay(batches=1) == BATCH or not _delivered_by_others():
                return False  # a backlog left, or nobody could deliver it
        _checked_at = now
        return True
    except CacheUnavailable:
        return False
    finally:
        _lock.release()
