"""The near tier in front of the READ script: a hit served from this process's memory
(``caching.near``), kept exact by Redis's invalidation pushes (``caching.backend.tracking``).

A near hit first consumes every push Redis has sent this process (``Tracker.drain``: a
non-blocking read, no round trip). Redis queues a write's invalidation push before it answers
the write, in the same pass over its clients, so once the writer has its answer the push is on
its way to every process; a process that reads after that consumes it before answering
(docs/near-cache.md gives the ordering and where it ends). While tracking is not up (not yet
connected, a connection lost or quiet, the process just forked) the tier is empty and reads go
to Redis; it reconnects at most once per ``RETRY_S``, and starts empty.
"""

import atexit
import logging
import threading
import time

from caching import keys, rules
from caching.backend.cluster import primaries
from caching.backend.connection import Client, client
from caching.backend.tracking import Node, Tracker, TrackingLost, Unconfirmed
from caching.conf import options
from caching.near import NearCache
from caching.state import STATE
from caching.store.hit_counts import HitCounts

log = logging.getLogger("caching")
RETRY_S = 1.0


class NearTier:
    def __init__(self) -> None:
        opts = options()
        self.cache = NearCache(opts.near_max_entries, opts.near_max_bytes)
        self.counts = HitCounts()
        self.tracker: Tracker | None = None
        self.retry_at = 0.0
        self._connecting = threading.Lock()

    def ready(self) -> Tracker | None:
        """The tracker, with every push consumed; ``None`` while tracking is not up."""
        tracker = self.tracker
        if tracker is None:
            if time.monotonic() < self.retry_at or not self._connecting.acquire(blocking=False):
                return None  # another thread is connecting: this read goes to Redis
            try:
                tracker = self.tracker or self._connect()
            finally:
                self._connecting.release()
            if tracker is None:
                return None
        try:
            tracker.drain()
        except Unconfirmed:
            return None  # Redis has not answered a heartbeat lately: ask Redis itself
        except TrackingLost as error:
            self._lost(tracker, str(error))
            return None
        return tracker

    def _connect(self) -> Tracker | None:
        self.retry_at = time.monotonic() + RETRY_S
        try:
            r = client()
            tracker = Tracker(
                _nodes(r),
                _prefixes(),
                self._invalidated,
                timeout_s=_timeout(r),
            )
        except (OSError, TrackingLost) as error:
            log.warning("event=near_cache_off reason=%s", str(error).replace(" ", "_"))
            return None
        self.cache.clear()  # anything held from before may have missed its invalidation
        self.tracker = tracker
        return tracker

    def _invalidated(self, names: list[bytes] | None) -> None:
        if names is None:  # FLUSHDB, FLUSHALL
            self.cache.clear()
        else:
            self.cache.invalidate(names)

    def _lost(self, tracker: Tracker, reason: str) -> None:
        tracker.close()
        if self.tracker is tracker:
            self.tracker = None
            self.cache.clear()
            self.retry_at = time.monotonic() + RETRY_S
            log.warning("event=near_cache_off reason=%s", reason.replace(" ", "_"))

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
        self.tracker = None
        self.cache.clear()
        self.counts.stop()


def _nodes(r: Client) -> list[Node]:
    found = []
    for _, node in primaries(r):
        where = node.connection_pool.connection_kwargs
        if where.get("ssl") or node.connection_pool.connection_class.__name__ == "SSLConnection":
            raise TrackingLost("TLS connections are not tracked (near cache off)")
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
    where = primaries(r)[0][1].connection_pool.connection_kwargs
    return float(where.get("socket_connect_timeout") or where.get("socket_timeout") or 1.0)


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


def tier() -> NearTier | None:
    """This process's near tier, or ``None`` when it is switched off."""
    near = STATE.near
    if near is None:
        if not options().near_enabled:
            return None
        near = STATE.near = NearTier()
    return near


def flush_counts() -> None:
    if STATE.near is not None:
        STATE.near.counts.flush()


def discard_counts() -> None:
    if STATE.near is not None:
        STATE.near.counts.discard()


atexit.register(flush_counts)
