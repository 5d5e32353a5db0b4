"""The near tier in front of the READ script: hits served from this process's memory, kept exact
by Redis's invalidation pushes (why, the faults, and why off on a Redis Cluster:
docs/near-cache.md); empty while tracking is not up. A background thread drains the tracking
connections while the process is idle (so the heartbeat stays answered), flushes the near hits'
counts and checks that the client still reaches the tracked server."""

import atexit
import logging
import os
import threading
import time
from typing import Any

from caching.core import keys, rules
from caching.core.keys import CacheKey
from caching.core.options import options
from caching.core.state import STATE
from caching.near.cache import NearCache
from caching.near.tracking import Node, Tracker, TrackingLostError
from caching.redis.cluster import pipelined, primaries, server_info
from caching.redis.connection import Client, client, is_cluster
from caching.redis.policy import CacheUnavailableError, breaker, call
from caching.redis.scripts import SHAS

log = logging.getLogger("caching")
RETRY_S = 1.0  # tracking not up: a connection is tried at most this often, and starts empty
UPKEEP_S = 0.05  # the background thread drains the tracking connections this often
NODE_CHECK_S = 1.0  # ... and compares the run id the client reaches with the tracked one
FLUSH_S = 0.2  # near hits are added to the shared counters this often


class HitCounts:
    """Near hits summed in the process, added to the shared counters every ``FLUSH_S`` by the
    upkeep thread (docs/near-cache.md, "Counts stay exact")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], int] = {}

    def add(self, key: CacheKey) -> None:
        shard = (key.namespace, key.shard)
        with self._lock:
            self._pending[shard] = self._pending.get(shard, 0) + 1

    def flush(self) -> None:
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return
        sha = SHAS["HITS"]

        def queue(pipe: Any) -> None:
            for (namespace, shard), hits in taken.items():
                history = keys.history_prefix(namespace, shard)
                pipe.execute_command(
                    "EVALSHA", sha, 1, keys.stats(namespace, shard), hits, history,
                    keys.HISTORY_SECONDS,
                )  # fmt: skip

        try:
            call(lambda r: pipelined(r, queue))
        except BaseException as error:
            with self._lock:  # counted at the next flush
                for shard, hits in taken.items():
                    self._pending[shard] = self._pending.get(shard, 0) + hits
            if not isinstance(error, CacheUnavailableError):
                raise

    def discard(self) -> None:
        with self._lock:
            self._pending.clear()


class NearTier:
    def __init__(self) -> None:
        opts = options()
        self.cache = NearCache(opts.near_max_entries, opts.near_max_bytes)
        self.counts = HitCounts()
        self.tracker: Tracker | None = None
        self.retry_at = 0.0
        self.off_reason = ""  # logged once per change
        self._connecting = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._upkeep, name="near-cache", daemon=True)
        self._thread.start()

    def ready(self) -> bool:
        """Whether a near hit may be served now: every push consumed and a recent heartbeat
        taken (``Tracker.drain``); connects first when tracking is not up."""
        tracker = self.tracker
        if tracker is None:
            if time.monotonic() < self.retry_at or not self._connecting.acquire(blocking=False):
                return False  # another thread is connecting: this read goes to Redis
            try:
                tracker = self.tracker or self._connect()
            finally:
                self._connecting.release()
            if tracker is None:
                return False
        try:
            return tracker.drain()
        except TrackingLostError as error:
            self._lost(tracker, str(error))
            return False

    def _upkeep(self) -> None:
        ticks = 0
        check_at = time.monotonic() + NODE_CHECK_S
        while not self._stop.wait(UPKEEP_S):
            try:
                self.ready()
                ticks += 1
                if ticks % round(FLUSH_S / UPKEEP_S) == 0:
                    self.counts.flush()
                tracker = self.tracker
                if tracker is not None and time.monotonic() >= check_at:
                    check_at = time.monotonic() + NODE_CHECK_S
                    if moved := self._moved(tracker):
                        self._lost(tracker, moved)
            except Exception:  # never let the thread die: the next tick tries again
                log.exception(
                    "near cache upkeep failed", extra={"event": "near_cache_upkeep_failed"}
                )

    def _connect(self) -> Tracker | None:
        self.retry_at = time.monotonic() + RETRY_S
        try:
            r = client()
            tracker = Tracker(
                _nodes(r),
                _prefixes(),
                self._invalidated,
                self._lapsed,
                heartbeat_key=keys.heartbeat(),
                timeout_s=_timeout(r),
            )
        except Exception as error:  # unreachable, refused, a replica, a cluster not up: retry
            self._off(str(error))
            return None
        if self._stop.is_set():  # the tier was closed meanwhile
            tracker.close()
            return None
        if moved := self._moved(tracker):
            tracker.close()
            self._off(moved)
            return None
        self.cache.clear()  # anything held from before may have missed its invalidation
        self.tracker = tracker
        if self.off_reason:
            log.warning("near cache on", extra={"event": "near_cache_on"})
            self.off_reason = ""
        return tracker

    def _moved(self, tracker: Tracker) -> str:
        """Why the client reaches another server than the tracked one (a name or an address
        moved), or ``""``; unknown (Redis unavailable, INFO refused) counts as the same."""
        tracked = tracker.links[0].run_id
        try:
            ((_, info),) = call(lambda r: server_info(r, "server"))
        except CacheUnavailableError:
            return ""
        reached = (info or {}).get("run_id", "")
        if tracked and reached and reached != tracked:
            return f"the client reaches Redis {reached}, not the tracked {tracked}"
        return ""

    def _off(self, reason: str) -> None:
        if reason != self.off_reason:
            log.warning("near cache off", extra={"event": "near_cache_off", "reason": reason[:200]})
            self.off_reason = reason

    def _invalidated(self, names: list[bytes] | None) -> None:
        if names is None:  # FLUSHDB, FLUSHALL
            self.cache.clear()
        else:
            self.cache.invalidate(names)

    def _lapsed(self) -> None:
        """Redis took two heartbeats further apart than a near hit may trust: writes may have
        been held or refused in between, and their invalidations with them."""
        self.cache.clear()
        breaker().suspect()
        log.warning(
            "near cache emptied: two heartbeats taken further apart than its window",
            extra={"event": "near_cache_lapse"},
        )

    def _lost(self, tracker: Tracker, reason: str) -> None:
        tracker.close()
        if self.tracker is tracker:
            self.tracker = None
            self.cache.clear()
            breaker().suspect()
            self.retry_at = time.monotonic() + RETRY_S
            self._off(reason)

    def close(self) -> None:
        """Stop the thread (its counts go with the old settings), then the connections."""
        self.counts.discard()
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.counts.discard()
        with self._connecting:  # a connection being made now sees the stop and closes itself
            if self.tracker is not None:
                self.tracker.close()
            self.tracker = None
        self.cache.clear()

    def abandon(self) -> None:
        """In a forked child: close this process's copies of the parent's sockets (the parent
        keeps its own); the parent's thread does not exist here."""
        if self.tracker is not None:
            self.tracker.detach()


def _nodes(r: Client) -> list[Node]:
    found = []
    for _, node in primaries(r):
        pool = node.connection_pool
        where = pool.connection_kwargs
        if where.get("ssl") or pool.connection_class.__name__ == "SSLConnection":
            raise TrackingLostError("TLS connections are not tracked")
        found.append(
            Node(
                host=where.get("host", "127.0.0.1"),
                port=int(where.get("port", 6379)),
                username=where.get("username"),
                password=where.get("password"),
                path=where.get("path"),
            )
        )
    return found


def _timeout(r: Client) -> float:
    """The shorter of the connect and socket timeouts: the heartbeat's window stays below it,
    and a write whose invalidation failed returns no sooner (``fence_s``)."""
    where = primaries(r)[0][1].connection_pool.connection_kwargs
    given = [t for t in (where.get("socket_timeout"), where.get("socket_connect_timeout")) if t]
    return float(min(given)) if given else 1.0


def _prefixes() -> list[str]:
    """The start of every key the near cache holds, and of every list's generation counter;
    the counters that reads increment start otherwise, so reads cause no pushes."""
    found = []
    for name in rules.namespaces():
        if rules.require(name).generational:
            found += [keys.tag(name) + name + ":", keys.generation(name)]
        else:
            found += [keys.tag(name, shard) + name + ":" for shard in keys.shards(False)]
    return found


class _Current:
    def __init__(self) -> None:
        self.tier: NearTier | None = None

    def forget(self) -> None:
        if self.tier is not None:
            self.tier.close()
        self.tier = None

    def forked(self) -> None:
        """In a child: no near cache (the parent's connection and thread are not the child's)."""
        if self.tier is not None:
            self.tier.abandon()
        self.tier = None


CURRENT = _Current()
STATE.on_reset(CURRENT.forget)
os.register_at_fork(after_in_child=CURRENT.forked)
_making = threading.Lock()


def tier() -> NearTier | None:
    """This process's near tier, or ``None`` when it is off (the setting, or a cluster)."""
    near = CURRENT.tier
    if near is not None:
        return near
    if not options().near_enabled:
        return None
    try:
        if is_cluster(client()):
            return None
    except Exception:  # no client yet (a cluster not reachable): decide on a later read
        return None
    with _making:
        near = CURRENT.tier = CURRENT.tier or NearTier()
    return near


def fence_s() -> float:
    """How long after its first try a write whose invalidation Redis did not take waits before
    it returns (docs/near-cache.md, "the fence"): the socket timeout; 0 without a near cache."""
    return 0.0 if tier() is None else _timeout(client())


def flush_counts() -> None:
    if CURRENT.tier is not None:
        CURRENT.tier.counts.flush()


def discard_counts() -> None:
    if CURRENT.tier is not None:
        CURRENT.tier.counts.discard()


atexit.register(flush_counts)
