"""Record, deliver and replay invalidations (SPEC 8.6; docs/failures.md, "The outbox")."""

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
    """After commit: apply ``changes`` to Redis, then drop the entry; ``False``: not taken, and
    the entry stays for replay. Tried even while the breaker is open, and fenced
    (docs/failures.md, "Writes keep working")."""
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
    """An attempt refused sooner than ``tier.fence_s()`` waits that out and tries once more; one
    that Redis took but no replica acknowledged is not retried (its push went out)."""
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
    """Deliver entries, oldest first, in batches (all, or ``batches``); how many, each batch's
    told to ``progress``. Raises CacheUnavailableError (what was delivered stays delivered)."""
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
    """Whether the entries a replay left (locked by another replay, or delivered by their write)
    go within ``LEASE_WAIT_MS``: a short wait beats a database read. Newer ones are not awaited."""
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
