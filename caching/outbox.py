"""The invalidation outbox: no invalidation is lost while Redis is slow or down (SPEC 8.6).

Every write's invalidation is stored as an ``OutboxEntry`` in the write's own transaction. After
commit it is applied to Redis and the entry deleted; if Redis cannot take it the entry stays.
Entries left behind are replayed, oldest first, by the first read of a process that has reason
to doubt the cache (it has just started, Redis failed since its last check, or it has not
reached Redis for ``OUTBOX_CHECK_AFTER_MS``), and by ``manage.py cache_replay``. Until the
backlog is delivered such a process reads from the database. Replay is idempotent: deleting a
key twice is harmless, and advancing a generation twice only drops more.
"""

import logging
import threading
import time

from django.db import transaction

from caching import client, service
from caching.client import CacheUnavailable
from caching.conf import options
from caching.models import OutboxEntry
from caching.registry import Changes

log = logging.getLogger("caching")
BATCH = 500

_lock = threading.Lock()
_checked_at = 0.0  # monotonic time of this process's last clean check; 0: never


def record(changes: Changes) -> int:
    """Store ``changes`` in the current transaction; returns the entry's id."""
    return OutboxEntry.objects.create(payload=changes.payload()).pk


def deliver(entry_id: int, changes: Changes) -> None:
    """After commit: apply ``changes`` to Redis, then drop the entry and write through.

    If Redis cannot take it, the entry stays for replay.
    """
    try:
        service.apply(changes)
    except CacheUnavailable:
        log.warning("invalidation #%d kept in the outbox: Redis unavailable", entry_id)
        return
    OutboxEntry.objects.filter(pk=entry_id).delete()
    for key, loader in changes.primes.items():
        service.prime(key, loader)


def replay() -> int:
    """Deliver every undelivered entry, oldest first, in batches; returns how many.

    Raises CacheUnavailable if Redis fails midway (what was delivered stays delivered).
    Concurrent replays skip each other's locked batches.
    """
    delivered = 0
    while True:
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
        log.warning("outbox replayed: %d invalidations delivered", delivered)
    return delivered


def backlog() -> int:
    return OutboxEntry.objects.count()


def cache_is_trusted() -> bool:
    """May this process serve from the cache now? Replays the backlog first when in doubt.

    The check costs one query, and only when in doubt; a busy, healthy process never pays it.
    """
    global _checked_at
    now = time.monotonic()
    window = options().outbox_check_after_ms / 1000
    if _checked_at and client.last_failure() < _checked_at and now - client.last_success() < window:
        return True
    with _lock:
        try:
            if OutboxEntry.objects.exists():
                replay()
        except CacheUnavailable:
            return False
        _checked_at = now
    return True
