"""The read entry point the apps call: ``get_or_load``. It decides whether this read may use
the cache at all (the layer enabled, no uncommitted cached write in this transaction, the
outbox checked), reads through the store (``caching.reads.leases``) or loads from the
database (``BYPASS``), and measures the read.

The outbox check (``cache_is_trusted``): a process that has reason to doubt the cache (it has
just started, Redis failed since its last check, or it has not reached Redis for
``OUTBOX_CHECK_AFTER_MS``) delivers the outbox's backlog before it serves a hit, and reads from
the database until none is left.
"""

import threading
import time

from caching.core import metrics
from caching.core.entry import BYPASS, Loader, Result
from caching.core.keys import CacheKey
from caching.core.options import options
from caching.core.state import STATE
from caching.outbox import delivery
from caching.outbox.transaction import has_pending_work, in_application_transaction
from caching.reads import leases
from caching.redis.policy import CacheUnavailableError, breaker, call, doubted_since

_check_lock = threading.Lock()


class _Checked:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.at = 0.0  # monotonic time of this process's last clean outbox check; 0: never


CHECKED = _Checked()
STATE.on_reset(CHECKED.reset)


def get_or_load(key: CacheKey, loader: Loader) -> Result:
    """Cache-aside read of ``key`` (``caching.reads.leases.read``), or a database read
    (``BYPASS``) when the cache may not be used; counted per namespace and outcome, timed."""
    began = time.perf_counter()
    result = _get_or_load(key, loader)
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
    if _recently_checked():
        return True
    if in_application_transaction():
        return False
    if not _check_lock.acquire(timeout=options().lease_wait_ms / 1000):
        return False
    try:
        if _recently_checked():  # by the thread this one waited for
            return True
        now = time.monotonic()
        if not breaker().closed():
            call(lambda r: r.ping())  # the probe, once the cooldown is over
        if delivery.has_backlog() and (
            delivery.replay(batches=1) == delivery.BATCH or not delivery.delivered_by_others()
        ):
            return False  # a backlog left, or nobody could deliver it
        CHECKED.at = now
        return True
    except CacheUnavailableError:
        return False
    finally:
        _check_lock.release()
