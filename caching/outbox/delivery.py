"""Record, deliver and replay invalidations (SPEC 8.6).

Every write's invalidation is stored as an ``OutboxEntry`` in the write's own transaction. After
commit it is applied to Redis and the entry deleted; if Redis cannot take it the entry stays.
Entries left behind are replayed, oldest first, by the first read of a process that has reason
to doubt the cache (``caching.reads.get_or_load``) and by ``manage.py cache_replay``. Replay is
idempotent: deleting a key twice is harmless, and advancing a generation twice only drops more.
"""

import logging
import time
from collections.abc import Callable

from django.db import transaction

from caching.core.backoff import polls
from caching.core.options import options
from caching.core.rules import Changes
from caching.near import tier
from caching.outbox.apply import apply
from caching.outbox.models import OutboxEntry
from caching.redis.policy import CacheUnavailableError, UnacknowledgedError

log = logging.getLogger("caching")
BATCH = 500


def record(changes: Changes) -> int:
    """Store ``changes`` in the current transaction; returns the entry's id."""
    return OutboxEntry.objects.create(payload=changes.payload()).pk


def deliver(entry_id: int, changes: Changes) -> bool:
    """After commit: apply ``changes`` to Redis, then drop the entry; ``False``: not taken.

    If Redis cannot take it, the entry stays for replay. The attempt is made even while this
    process's breaker is open: Redis may be back (a replica promoted) before the breaker's probe
    tells this process, and an entry left in the outbox is stale for other processes until
    their next check (``OUTBOX_CHECK_AFTER_MS``). An attempt that Redis refused sooner than the
    socket timeout (a replica, a closed port) waits until that long after it began, then tries
    once more: until then another process's near cache may still trust what it last heard from
    Redis (``tier.fence_s``). One that Redis took but no replica acknowledged is not
    retried (its push went out). So while Redis is down or refusing, a write pays about the
    timeout (twice at most); reads stay behind the breaker.
    """
    try:
        _apply_fenced(changes)
    except CacheUnavailableError as error:
        log.warning(
            "invalidation queued in the outbox",
            extra={
                "event": "invalidation_queued",
                "entry": entry_id,
                "keys": len(changes.drop),
                "namespaces": len(changes.advance),
                "error": str(error),
            },
        )
        return False
    OutboxEntry.objects.filter(pk=entry_id).delete()
    return True


def _apply_fenced(changes: Changes) -> None:
    began = time.monotonic()
    try:
        apply(changes, through_open_breaker=True)
    except CacheUnavailableError as error:
        rest = began + tier.fence_s() - time.monotonic()
        if rest <= 0 or isinstance(error.__cause__, UnacknowledgedError):  # timed out, or taken
            raise
        time.sleep(rest)
        apply(changes, through_open_breaker=True)


def replay(*, batches: int | None = None, progress: Callable[[int], object] | None = None) -> int:
    """Deliver undelivered entries, oldest first, in batches (all, or ``batches`` of them);
    returns how many, and tells ``progress`` each batch's size. Raises CacheUnavailableError if
    Redis fails midway (what was delivered stays delivered). Concurrent replays skip each other's
    locked batches.
    """
    delivered = 0
    while batches is None or delivered < batches * BATCH:
        with transaction.atomic():
            rows = OutboxEntry.objects.select_for_update(skip_locked=True).order_by("id")
            batch = list(rows[:BATCH])
            if not batch:
                break
            merged = Changes()
            for entry in batch:
                merged.merge(Changes.from_payload(entry.payload))
            apply(merged)
            OutboxEntry.objects.filter(pk__in=[entry.pk for entry in batch]).delete()
        delivered += len(batch)
        if progress:
            progress(len(batch))
    if delivered:
        log.warning(
            "outbox replayed",
            extra={"event": "outbox_replayed", "delivered": delivered, "left": outbox_backlog()},
        )
    return delivered


def outbox_backlog() -> int:
    return OutboxEntry.objects.count()


def has_backlog() -> bool:
    return OutboxEntry.objects.exists()


def delivered_by_others() -> bool:
    """Whether the entries a replay left (rows another process's replay holds locked, or rows
    a write that has just committed is about to delete after delivering them itself) are gone
    within ``LEASE_WAIT_MS``. They are in flight, not lost: a few milliseconds' wait beats a
    database read. Entries that commit meanwhile belong to writes concurrent with this read:
    not waited for."""
    last = OutboxEntry.objects.order_by("-id").values_list("id", flat=True).first()
    if last is None:
        return True
    pending = OutboxEntry.objects.filter(id__lte=last)
    if not pending.exists():
        return True
    for _ in polls(options().lease_wait_ms / 1000):
        replay(batches=1)  # rows their holder let go of without delivering (it failed)
        if not pending.exists():
            return True
    return False
