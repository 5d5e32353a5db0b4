"""The read entry point the apps call: ``get_or_load`` decides whether a read may use the cache
(the layer enabled, no uncommitted cached write here, the outbox checked), and measures it."""

import logging
import threading
import time

from caching.core import metrics
from caching.core.entry import BYPASS, Loader, Result
from caching.core.keys import CacheKey
from caching.core.options import options
from caching.core.state import STATE
from caching.database.guard import DatabaseUnavailableError, quick
from caching.outbox import delivery
from caching.outbox.transaction import has_pending_work, in_application_transaction
from caching.reads import leases
from caching.redis.policy import CacheUnavailableError, doubted_since, probe

log = logging.getLogger("caching")
_check_lock = threading.Lock()
CHECK_DEADLINE_S = 0.5  # the outbox check's first query (one index probe): a hit waits no longer


class _Checked:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.at = 0.0  # monotonic time of this process's last clean outbox check; 0: never
        self.unchecked = False  # serving on that check's trust, the database away


CHECKED = _Checked()
STATE.on_reset(CHECKED.reset)


def get_or_load(key: CacheKey, loader: Loader) -> Result:
    """Read ``key`` through the cache, or from the database (``BYPASS``); counted and timed."""
    began = time.perf_counter()
    result = _get_or_load(key, loader)
    if CHECKED.unchecked and result.status != BYPASS:
        metrics.UNCHECKED_READS.inc()
    metrics.READ_SECONDS.labels(result.status).observe(time.perf_counter() - began)
    metrics.READS.labels(key.namespace, result.status).inc()
    return result


def _get_or_load(key: CacheKey, loader: Loader) -> Result:
    if options().enabled and not has_pending_work():
        for _ in range(2):  # again after a check, if the read found a reason to doubt
            if not cache_is_trusted():
                break
            result = leases.read(key, loader, trusted_since=CHECKED.at)
            if result is not None:
                return result
    return Result(loader(), BYPASS)


def _recently_checked() -> bool:
    checked = CHECKED.at
    window = options().outbox_check_after_ms / 1000
    return bool(checked) and not doubted_since(checked) and time.monotonic() - checked < window


def cache_is_trusted() -> bool:
    """May this process serve from the cache now? When in doubt, checks the outbox and replays a
    batch of its backlog first (docs/failures.md, "The outbox": when, and what it waits for).
    While another thread checks, or the database cannot be asked, the last clean check's trust
    stands unless Redis has failed since (docs/failures.md, "The outbox while PostgreSQL is
    away")."""
    if _recently_checked():
        return True
    if in_application_transaction():
        return False
    trusted_before = bool(CHECKED.at) and not doubted_since(CHECKED.at)
    if trusted_before:
        acquired = _check_lock.acquire(blocking=False)
    else:
        acquired = _check_lock.acquire(timeout=options().lease_wait_ms / 1000)
    if not acquired:
        return trusted_before
    try:
        if _recently_checked():  # by the thread this one waited for
            return True
        now = time.monotonic()
        probe()
        with quick(CHECK_DEADLINE_S):
            backlog = delivery.has_backlog()
        if backlog and (
            delivery.replay(batches=1) == delivery.BATCH or not delivery.delivered_by_others()
        ):
            return False  # a backlog left, or nobody could deliver it
        CHECKED.at = now
        _set_unchecked(False)
        return True
    except CacheUnavailableError:
        return False
    except DatabaseUnavailableError:
        if trusted_before:
            _set_unchecked(True)
        return trusted_before
    finally:
        _check_lock.release()


def _set_unchecked(unchecked: bool) -> None:
    if unchecked != CHECKED.unchecked:
        CHECKED.unchecked = unchecked
        metrics.OUTBOX_UNCHECKED.set(int(unchecked))
        log.warning(
            "outbox unchecked: serving on the last check's trust"
            if unchecked
            else "outbox checked again",
            extra={"event": "outbox_unchecked" if unchecked else "outbox_checked"},
        )


def outbox_unchecked() -> bool:
    """Whether this process serves hits it could not re-check (/api/health/ready says so)."""
    return CHECKED.unchecked
