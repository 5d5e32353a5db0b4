"""The near tier in front of the READ script: hits served from this process's memory, kept exact
by Redis's invalidation pushes, one tracker per primary (why, the faults, and a cluster's
topology: docs/near-cache.md). A background thread drains the trackers while the process is
idle (so the heartbeat stays answered), connects missing ones, flushes the near hits' counts
and checks that the client still reaches the tracked servers (on a cluster: its slot map)."""

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial

from caching.core import keys, rules
from caching.core.keys import CacheKey
from caching.core.options import options
from caching.core.state import STATE
from caching.near.cache import NearCache
from caching.near.tracking import Node, Tracker, TrackingLostError
from caching.redis.cluster import confirmed_slot_map, connection_for, primaries, server_info
from caching.redis.connection import Client, client, is_cluster, timeout_s
from caching.redis.policy import UNAVAILABLE, CacheUnavailableError, breaker, call, node_of
from caching.redis.scripts import run_script_each

log = logging.getLogger("caching")
RETRY_S = 1.0  # tracking not up: a connection is tried at most this often, and starts empty
UPKEEP_S = 0.05  # the background thread drains the tracking connections this often
NODE_CHECK_S = 1.0  # ... and checks the tracked servers: one Redis's run id, a cluster's map
FLUSH_S = 0.5  # near hits are added to the shared counters this often (SPEC 8.7: within 1 s)


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
        """One pipeline per primary, under its breaker. What a primary did not count (down,
        moved) stays pending, and only that; a NOSCRIPT replays the refused scripts alone. Any
        other error is a bug: raised once every primary had its turn."""
        with self._lock:
            taken, self._pending = self._pending, {}
        by_node: dict[str | None, list[tuple[tuple[str, int], int]]] = {}
        for shard, hits in taken.items():
            by_node.setdefault(node_of(keys.stats(*shard)), []).append((shard, hits))
        left: list[tuple[tuple[str, int], int]] = []
        bugs: list[Exception] = []
        groups = list(by_node.values())
        try:
            while groups:
                group = groups.pop()
                try:
                    kept, failed = call(partial(_count, group=group), key=keys.stats(*group[0][0]))
                except CacheUnavailableError:
                    kept, failed = group, []
                left += kept
                bugs += failed
        finally:
            with self._lock:  # counted at the next flush: what was left, and what was not tried
                for shard, hits in left + [item for group in groups for item in group]:
                    self._pending[shard] = self._pending.get(shard, 0) + hits
        if bugs:
            raise bugs[0]

    def discard(self) -> None:
        with self._lock:
            self._pending.clear()


def _count(
    r: Client, group: list[tuple[tuple[str, int], int]]
) -> tuple[list[tuple[tuple[str, int], int]], list[Exception]]:
    """Run ``HITS`` for each ``((namespace, shard), hits)`` of one primary: what to count again
    (the server unavailable, down or moved, or full), and the other errors (bugs)."""
    calls = [
        (
            [keys.stats(namespace, shard)],
            [hits, keys.history_prefix(namespace, shard), keys.HISTORY_SECONDS],
        )
        for (namespace, shard), hits in group
    ]
    results = run_script_each(connection_for(r, calls[0][0][0]), "HITS", calls)
    if all(isinstance(result, UNAVAILABLE) for result in results):
        raise results[0]  # nothing counted: the primary's breaker hears of it
    # 0: Redis refused the write for want of memory, and counted nothing: again later.
    kept = [
        item
        for item, result in zip(group, results, strict=True)
        if isinstance(result, UNAVAILABLE) or result == 0
    ]
    bugs = [e for e in results if isinstance(e, Exception) and not isinstance(e, UNAVAILABLE)]
    return kept, bugs


class NearTier:
    """One tracker per primary, by name (on a cluster, every primary the slot map names); a
    near entry is served only through the tracker of its slot's primary now."""

    def __init__(self) -> None:
        opts = options()
        self.cache = NearCache(opts.near_max_entries, opts.near_max_bytes)
        self.counts = HitCounts()
        self.trackers: dict[str, Tracker] = {}
        self.retry_at = 0.0
        self.unconfirmed = False  # a cluster's slot map not confirmed at the last check
        self.off_reason = ""  # why the tier is (partly) off; logged once until it is on again
        self._connecting = threading.Lock()
        self._stop = threading.Event()
        # Two threads: one keeps the heartbeats going and does nothing else, so a slow primary's
        # chores (connecting, flushing, checking: the other) cannot starve the others' trackers.
        self._threads = [
            threading.Thread(target=self._keep_draining, name="near-cache", daemon=True),
            threading.Thread(target=self._upkeep, name="near-cache-upkeep", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def ready(self) -> bool:
        """Drain every tracker (each then says in ``trusted`` whether it vouches for a near hit
        now), connecting first if there is none; whether every one vouches."""
        if not self.trackers:
            self._connect(blocking=False)
        trusted = bool(self.trackers)
        for name, tracker in list(self.trackers.items()):
            try:
                trusted = tracker.drain() and trusted
            except TrackingLostError as error:
                self._lost(name, tracker, str(error))
                trusted = False
        return trusted

    def tracker_for(self, physical: str) -> Tracker | None:
        """The tracker of the primary that serves ``physical`` now, if there is one (none while
        a cluster's slot map is not confirmed)."""
        if self.unconfirmed:
            return None
        return self.trackers.get(_ONLY) or self.trackers.get(node_of(physical) or _ONLY)

    def _keep_draining(self) -> None:
        while not self._stop.wait(UPKEEP_S):
            self._guarded(self.ready)

    def _upkeep(self) -> None:
        flush_at = check_at = time.monotonic()
        while not self._stop.wait(UPKEEP_S):
            self._guarded(partial(self._connect, blocking=True))
            if time.monotonic() >= flush_at:
                flush_at = time.monotonic() + FLUSH_S
                self._guarded(self.counts.flush)
            if time.monotonic() >= check_at:
                check_at = time.monotonic() + NODE_CHECK_S
                self._guarded(self._check_nodes)

    @staticmethod
    def _guarded(chore: Callable[[], object]) -> None:
        """Never let a thread die: the next tick tries again."""
        try:
            chore()
        except Exception:
            log.exception("near cache upkeep failed", extra={"event": "near_cache_upkeep_failed"})

    def _connect(self, *, blocking: bool) -> None:
        """Connect a tracker to each primary that has none (at most every ``RETRY_S``)."""
        if time.monotonic() < self.retry_at or not self._connecting.acquire(blocking=blocking):
            return  # another thread is connecting: meanwhile reads go to Redis
        try:
            r = client()
            for name, node in _nodes(r):
                if name not in self.trackers and not self._stop.is_set():
                    self._track(r, name, node)
        except Exception as error:  # a cluster not up, its map unknown: retry
            self.retry_at = time.monotonic() + RETRY_S
            self._off(str(error))
        finally:
            self._connecting.release()

    def _track(self, r: Client, name: str, node: Node) -> None:
        try:
            tracker = Tracker(
                node,
                _prefixes(),
                self._invalidated,
                partial(self._lapsed, name),
                heartbeat_key=_heartbeat_key(r, name),
                timeout_s=timeout_s(),
            )
        except Exception as error:  # unreachable, refused, a replica: retry
            self.retry_at = time.monotonic() + RETRY_S
            self._off(f"{name}: {error}")
            return
        if self._stop.is_set() or (moved := self._moved(tracker)):
            tracker.close()
            if not self._stop.is_set():
                self.retry_at = time.monotonic() + RETRY_S
                self._off(moved)
            return
        self.trackers[name] = tracker
        if len(self.trackers) == len(_nodes(r)):
            self._on()

    def _check_nodes(self) -> None:
        """On one Redis: does the client still reach the tracked server? On a cluster: does the
        client's slot map agree with the cluster's, and is every tracked node still a primary?"""
        if not self.trackers:
            return  # nothing served near: the next connection starts from the client's map
        r = client()
        if not is_cluster(r):
            for name, tracker in list(self.trackers.items()):
                if moved := self._moved(tracker):
                    self._lost(name, tracker, moved)
            return
        # Asked: a primary whose tracker vouches for near hits (it answers), else any.
        vouching = [name for name, tracker in list(self.trackers.items()) if tracker.trusted]
        try:
            seen = confirmed_slot_map(r, vouching[0] if vouching else None)
        except Exception as error:  # unreachable, a partial view, a map in flux: trust nothing
            self.unconfirmed = True
            self.cache.clear()
            self._off(f"slot map not confirmed: {error}")
            return
        for name, tracker in list(self.trackers.items()):
            if name not in seen:
                self._lost(name, tracker, f"{name} no longer serves slots")
        if self.unconfirmed:
            self.unconfirmed = False
            if len(self.trackers) == len(seen):
                self._on()

    def _moved(self, tracker: Tracker) -> str:
        """Why the client reaches another server than the tracked one (a name or an address
        moved), or ``""``; unknown (Redis unavailable, INFO refused, a cluster) counts as the
        same."""
        tracked = tracker.link.run_id
        if is_cluster(client()):
            return ""
        try:
            ((_, info),) = call(lambda r: server_info(r, "server"))
        except CacheUnavailableError:
            return ""
        reached = (info or {}).get("run_id", "")
        if tracked and reached and reached != tracked:
            return f"the client reaches Redis {reached}, not the tracked {tracked}"
        return ""

    def _on(self) -> None:
        if self.off_reason:
            log.warning("near cache on", extra={"event": "near_cache_on"})
            self.off_reason = ""

    def _off(self, reason: str) -> None:
        """Logged once until the tier is on again (a cluster that cannot be reached names its
        nodes' errors in turn)."""
        if not self.off_reason:
            log.warning("near cache off", extra={"event": "near_cache_off", "reason": reason[:200]})
        self.off_reason = reason

    def _invalidated(self, names: list[bytes] | None) -> None:
        if names is None:  # FLUSHDB, FLUSHALL
            self.cache.clear()
        else:
            self.cache.invalidate(names)

    def _lapsed(self, name: str) -> None:
        """Primary ``name`` took two heartbeats further apart than a near hit may trust: writes
        may have been held or refused in between, and their invalidations with them (its
        tracker has a new generation already): the entries filled through it go."""
        self._retain()
        breaker().suspect()
        log.warning(
            "near cache entries dropped: two heartbeats taken further apart than its window",
            extra={"event": "near_cache_lapse", "node": name},
        )

    def _lost(self, name: str, tracker: Tracker, reason: str) -> None:
        tracker.close()
        if self.trackers.get(name) is tracker:
            del self.trackers[name]
            self._retain()
            breaker().suspect()
            self.retry_at = time.monotonic() + RETRY_S
            self._off(reason)

    def _retain(self) -> None:
        self.cache.retain({t.generation for t in list(self.trackers.values()) if not t.broken})

    def close(self) -> None:
        """Stop the thread (its counts go with the old settings), then the connections."""
        self.counts.discard()
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self.counts.discard()
        with self._connecting:  # a connection being made now sees the stop and closes itself
            for tracker in list(self.trackers.values()):
                tracker.close()
            self.trackers = {}
        self.cache.clear()

    def abandon(self) -> None:
        """In a forked child: close this process's copies of the parent's sockets (the parent
        keeps its own); the parent's thread does not exist here."""
        for tracker in self.trackers.values():
            tracker.detach()


_ONLY = ""  # the name of one Redis's only primary (node_of gives None there)


def _nodes(r: Client) -> list[tuple[str, Node]]:
    """``(name, where)`` of every primary: one Redis's, or every primary of the client's map."""
    found = []
    for name, node in primaries(r):
        pool = node.connection_pool
        where = pool.connection_kwargs
        if where.get("ssl") or pool.connection_class.__name__ == "SSLConnection":
            raise TrackingLostError("TLS connections are not tracked")
        found.append(
            (
                name if is_cluster(r) else _ONLY,
                Node(
                    host=where.get("host", "127.0.0.1"),
                    port=int(where.get("port", 6379)),
                    username=where.get("username"),
                    password=where.get("password"),
                    path=where.get("path"),
                ),
            )
        )
    return found


def _heartbeat_key(r: Client, name: str) -> str:
    """On a cluster, the first heartbeat key in a slot that primary ``name`` serves (a write
    there is refused, MOVED, once it serves it no more); on one Redis, the first."""
    if not is_cluster(r):
        return keys.heartbeat()
    for number in range(100_000):
        if node_of(keys.heartbeat(number)) == name:
            return keys.heartbeat(number)
    raise TrackingLostError(f"{name} serves no slot")


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
    """This process's near tier, or ``None`` when it is off (the setting)."""
    near = CURRENT.tier
    if near is not None:
        return near
    if not options().near_enabled:
        return None
    with _making:
        near = CURRENT.tier = CURRENT.tier or NearTier()
    return near


def fence_s() -> float:
    """How long after its first try a write whose invalidation Redis did not take waits before
    it returns (docs/near-cache.md, "the fence"): the Redis timeout, which the heartbeat's window
    stays below; 0 without a near cache."""
    return 0.0 if tier() is None else timeout_s()


def flush_counts() -> None:
    if CURRENT.tier is not None:
        CURRENT.tier.counts.flush()


def discard_counts() -> None:
    if CURRENT.tier is not None:
        CURRENT.tier.counts.discard()


atexit.register(flush_counts)
