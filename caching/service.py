"""The cache service: cache-aside reads with leases, write-through, invalidation, clears, stats.

Views call ``get_or_load`` around a selector. Writes reach ``apply`` (and ``prime``, for
write-through) through ``caching.outbox.deliver`` after the transaction commits, or through
an outbox replay.
"""

import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from caching import client, keys, metrics, outbox, registry, replication
from caching.client import CacheUnavailable, call, run_script
from caching.conf import options
from caching.entry import Entry
from caching.keys import CacheKey
from caching.scripts import LEASE_MARK
from caching.transaction import has_pending_work

log = logging.getLogger("caching")

HIT, MISS, BYPASS = "HIT", "MISS", "BYPASS"
_WAIT, _FULL = 3, 4  # READ's answers besides a hit (1) and a lease granted (2)
_CLAIMED = object()
SCAN_BATCH = 1000
LEASE_MARK_BYTES = LEASE_MARK.encode()


@dataclass(frozen=True, slots=True)
class Result:
    """A read's entry (``None``: the loader found nothing) and how it was served."""

    value: Entry | None
    status: str


def is_lease(raw: bytes) -> bool:
    return raw.startswith(LEASE_MARK_BYTES)


def _reseed_leases() -> None:
    global _LEASE_BASE
    _LEASE_BASE = LEASE_MARK + secrets.token_hex(8) + ":"


_reseed_leases()
os.register_at_fork(after_in_child=_reseed_leases)  # gunicorn --preload forks after import
_lease_numbers = itertools.count()


def _new_lease() -> str:
    """A token no other lease holder has: this process's random base and a counter (no
    system call on the hit path, which claims a lease only on a miss but needs one ready)."""
    return f"{_LEASE_BASE}{next(_lease_numbers)}"


def get_or_load(key: CacheKey, loader: Callable[[], Entry | None]) -> Result:
    """``_get_or_load``, measured: outcome counters per namespace and a latency histogram."""
    began = time.perf_counter()
    result = _get_or_load(key, loader)
    metrics.READ_SECONDS.labels(result.status).observe(time.perf_counter() - began)
    metrics.READS.labels(key.namespace, result.status).inc()
    return result


def _get_or_load(key: CacheKey, loader: Callable[[], Entry | None]) -> Result:
    """Cache-aside read of ``key``: a hit is one Redis round trip (value and counter together).

    On a miss this caller holds a lease on the key, loads, and stores only if no invalidation
    revoked the lease meanwhile. Callers that find another's lease wait up to ``LEASE_WAIT_MS``
    for its value, then load from the database without storing. A loader result of ``None``
    (nothing found) is not cached. While Redis refuses writes (full), hits are still served and
    a miss loads from the database and stores nothing.
    """
    opts = options()
    if not opts.enabled or has_pending_work() or not outbox.cache_is_trusted():
        return Result(loader(), BYPASS)
    namespace = registry.require(key.namespace)
    lease = _new_lease()
    read_keys = [keys.stats_of(key), keys.physical(key)]
    if namespace.generational:
        read_keys.append(keys.generation(namespace.name))
    args = [lease, opts.lease_ms, keys.GENERATION_SEPARATOR, keys.history_prefix(key.namespace, key.shard), keys.HISTORY_SECONDS]
    try:
        code, payload = call(lambda r: run_script(r, "READ", read_keys, args))
    except CacheUnavailable:
        return Result(loader(), BYPASS)
    if code == 1:
        return Result(Entry.decode(payload), HIT)
    if code == _FULL:  # Redis refuses writes: no lease, so nothing to store and nobody to wait for
        return Result(loader(), MISS)
    physical = payload.decode()
    if code == _WAIT:
        waited = _wait_for(physical, lease, opts)
        if waited is _CLAIMED:
            return Result(_load_and_store(key, physical, lease, loader), MISS)
        if waited is not None:
            return Result(waited, MISS)
        return Result(_load(key, loader), MISS)
    return Result(_load_and_store(key, physical, lease, loader), MISS)


def _load(key: CacheKey, loader: Callable[[], Entry | None]) -> Entry | None:
    """A database load that will not be stored (the lease holder took too long)."""
    value = loader()
    try:
        call(lambda r: r.hincrby(keys.stats_of(key), "loads", 1))
    except CacheUnavailable:
        pass  # a lost count (Redis down or full), not a lost value
    return value


def _load_and_store(key: CacheKey, physical: str, lease: str, loader: Callable[[], Entry | None]) -> Entry | None:
    """Load under ``lease``; store the value if the lease survived, else give the lease up.
    One round trip after the load, counting the load too. The namespace's TTL, or
    ``EMPTY_TTL`` for an entry its loader marked ``empty`` (``0``: give the lease up)."""
    try:
        value = loader()
    except BaseException:
        _finish(key, physical, lease, None, 0)
        raise
    if value is None:
        _finish(key, physical, lease, None, 0)
        return None
    data, ttl = value.encode(), options().ttl(key.namespace, empty=value.empty)
    _finish(key, physical, lease, data if ttl > 0 else None, ttl)
    return Entry.decode(data)


def _finish(key: CacheKey, physical: str, lease: str, data: bytes | None, ttl: int) -> None:
    """STORE (or, with nothing to store, RELEASE) the lease on ``physical``; counts the load."""
    name, args = ("RELEASE", [lease]) if data is None else ("STORE", [lease, data, ttl])
    try:
        call(lambda r: run_script(r, name, [physical, keys.stats_of(key)], args))
    except CacheUnavailable:
        pass  # served from the database; the lease expires by itself after LEASE_MS


def _wait_for(physical: str, lease: str, opts) -> Any:
    """Wait for the value another caller is loading, up to ``LEASE_WAIT_MS``.

    Returns the value; ``_CLAIMED`` if the other lease went away (given up, revoked by an
    invalidation, expired or evicted) and this caller took the key's lease in its place, so one
    caller, not all of them, reloads; ``None`` if the time ran out or Redis refuses the lease
    (load, store nothing).
    """
    deadline = time.monotonic() + opts.lease_wait_ms / 1000
    delay = 0.002
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        try:
            raw = call(lambda r: r.get(physical) or r.set(physical, lease, nx=True, px=opts.lease_ms) and _CLAIMED)
        except CacheUnavailable:
            return None
        if raw is _CLAIMED:
            return _CLAIMED
        if raw and not is_lease(raw):
            return Entry.decode(raw)
    return None


def prime(key: CacheKey, loader: Callable[[], Entry | None]) -> bool:
    """Write-through: fill ``key`` now, under a lease, from a fresh load. ``True`` if stored.

    The load happens after the lease is taken, so an invalidation that commits in between
    revokes the lease and the (possibly older) value is not stored.
    """
    opts = options()
    if not opts.enabled or registry.require(key.namespace).generational:
        return False
    physical, lease = keys.physical(key), _new_lease()
    try:
        claimed = call(lambda r: r.set(physical, lease, nx=True, px=opts.lease_ms))
    except CacheUnavailable:
        return False
    if not claimed:
        return False
    return _load_and_store(key, physical, lease, loader) is not None


def _batches(items: Iterable[str], size: int) -> Iterable[list[str]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def apply(changes: registry.Changes, *, through_open_breaker: bool = False) -> None:
    """The Redis side of an invalidation: delete keys, advance list generations, in this key
    version and the previous one (``keys.INVALIDATED_VERSIONS``).

    One pipeline per primary touched, whatever else Redis holds, waiting for a replica's
    acknowledgement where there is one (``caching.replication``); UNLINKs grouped by slot, one
    BUMP per generation counter. Raises CacheUnavailable. Runs even with ``ENABLED`` false, so
    entries cached before the layer was switched off are not served stale when it is switched
    on again.
    """
    if not changes.keys and not changes.namespaces:
        return
    opts = options()

    def run(r) -> tuple[int, int]:
        # A cluster never held keys of a layout without hash tags.
        versions = [v for v in keys.INVALIDATED_VERSIONS if v >= keys.TAGGED_SINCE or not client.is_cluster(r)]
        physical = sorted(keys.physical(k, v) for k in changes.keys if not registry.require(k.namespace).generational for v in versions)
        previous = sorted(keys.generation(ns, v) for ns in changes.namespaces for v in versions if v != keys.VERSION)
        bump = client.SHAS["BUMP"]
        commands = [(group[0], ("UNLINK", *group)) for group in client.by_slot(physical)]
        commands += [(counter, ("EVALSHA", bump, 1, counter, "")) for counter in map(keys.generation, sorted(changes.namespaces))]
        commands += [(counter, ("EVALSHA", bump, 1, counter, "existing")) for counter in previous]  # only where a reader made one
        replication.run_durably(r, commands, replica_ack_ms=opts.replica_ack_ms)
        return len(physical), len(changes.namespaces)

    deleted, advanced = call(run, through_open_breaker=through_open_breaker)
    metrics.INVALIDATIONS.labels("keys").inc(deleted)
    metrics.INVALIDATIONS.labels("generations").inc(advanced)


def clear_namespace(name: str, *, dry_run: bool = False) -> int:
    """Delete every key of namespace ``name``; returns how many.

    Heavy: SCAN visits the whole key space (in batches of ``SCAN_BATCH``, so Redis never blocks
    long) and UNLINK frees memory off the main thread. Use for operator flushes, not on writes.
    """
    removed = delete_matching(keys.namespace_pattern(registry.require(name).name), dry_run=dry_run)
    log.info("event=namespace_flushed namespace=%s keys=%d dry_run=%s", name, removed, dry_run)
    return removed


def delete_matching(pattern: str, *, dry_run: bool = False) -> int:
    """Delete every key matching the (already escaped) SCAN ``pattern``; returns how many.

    Heavy: SCAN visits the whole key space (on a cluster, of every primary) in batches of
    ``SCAN_BATCH``, UNLINK frees memory off Redis's main thread, so no single command blocks it
    long.
    """

    def run(r) -> int:
        removed = 0
        for batch in _batches(r.scan_iter(match=pattern, count=SCAN_BATCH), SCAN_BATCH):
            removed += len(batch) if dry_run else client.unlink(r, [name.decode() for name in batch])
        return removed

    return call(run)


def count_keys() -> dict[str, int]:
    """Keys per registered namespace. Heavy: one SCAN of the whole key space (of every primary,
    on a cluster)."""
    counts = dict.fromkeys(registry.namespaces(), 0)

    def run(r) -> None:
        for raw in r.scan_iter(match=keys.prefix_pattern(), count=SCAN_BATCH):
            name = keys.namespace_of(raw.decode())
            if name in counts:
                counts[name] += 1

    call(run)
    return counts


def _shards() -> list[tuple[str, int]]:
    """Every (namespace, shard) whose counters may exist."""
    return [(name, shard) for name in registry.namespaces() for shard in keys.shards(registry.require(name).generational)]


def stats(*, with_keys: bool = True) -> dict[str, Any]:
    """Hits, misses, hit rate, database loads (and key counts) per registered namespace, plus
    totals. ``loads`` counts the loader calls that misses caused: with leases, one per key per
    fill, however many requests missed together. The counters of a namespace's shards are added
    up (one pipeline)."""
    shards = _shards()
    hashes = call(lambda r: client.pipelined(r, lambda pipe: [pipe.hgetall(keys.stats(*s)) for s in shards]))
    counters: dict[tuple[str, str], int] = {}
    for (name, _), counts in zip(shards, hashes):
        for field, value in counts.items():
            counters[name, field.decode()] = counters.get((name, field.decode()), 0) + int(value)
    key_counts = count_keys() if with_keys else {}
    result: dict[str, Any] = {"namespaces": {}}
    total_hits = total_misses = 0
    for name in registry.namespaces():
        hits, misses, loads = (counters.get((name, c), 0) for c in ("hits", "misses", "loads"))
        total_hits, total_misses = total_hits + hits, total_misses + misses
        row = {"hits": hits, "misses": misses, "hit_rate": _rate(hits, misses), "loads": loads}
        if with_keys:
            row["keys"] = key_counts[name]
        result["namespaces"][name] = row
    result["total"] = {"hits": total_hits, "misses": total_misses, "hit_rate": _rate(total_hits, total_misses)}
    return result


def history(minutes: int = 60) -> list[dict[str, Any]]:
    """Hits and misses per minute over the last ``minutes`` (all namespaces), oldest first;
    one pipeline over the hourly buckets of every shard."""
    shards = _shards()

    def run(r):
        now = int(r.time()[0]) // 60  # Redis's clock, which named the buckets
        span = range(now - minutes + 1, now + 1)
        hours = range(span[0] // 60, now // 60 + 1)
        buckets = client.pipelined(r, lambda pipe: [pipe.hgetall(keys.history(*s, hour)) for s in shards for hour in hours])
        return span, buckets

    span, buckets = call(run)
    counts: dict[str, int] = {}
    for bucket in buckets:
        for field, value in bucket.items():
            counts[field.decode()] = counts.get(field.decode(), 0) + int(value)
    rows = []
    for minute in span:
        hits, misses = counts.get(f"{minute}:hits", 0), counts.get(f"{minute}:misses", 0)
        rows.append({"minute": minute * 60, "hits": hits, "misses": misses, "hit_rate": _rate(hits, misses) if hits + misses else None})
    return rows


def _rate(hits: int, misses: int) -> float:
    return round(hits / (hits + misses), 4) if hits + misses else 0.0


def reset_stats() -> None:
    """Zero the counters and the history: every shard's stats hash and hourly buckets (named,
    not scanned: buckets live ``keys.HISTORY_SECONDS``)."""

    def run(r) -> None:
        hour = int(r.time()[0]) // 3600
        hours = range(hour - keys.HISTORY_SECONDS // 3600, hour + 1)
        names = [keys.stats(*s) for s in _shards()] + [keys.history(*s, h) for s in _shards() for h in hours]
        client.unlink(r, names)

    call(run)


def _evictable(info: dict) -> int:
    """Keys the server's policy may evict: all of them (allkeys-*), those with a TTL
    (volatile-*), none (noeviction)."""
    databases = [value for name, value in info.items() if re.fullmatch(r"db\d+", name)]
    policy = info["maxmemory_policy"]
    if policy.startswith("allkeys-"):
        return sum(db["keys"] for db in databases)
    if policy.startswith("volatile-"):
        return sum(db["expires"] for db in databases)
    return 0


def _node_memory(name: str, info: dict) -> dict[str, Any]:
    maxmemory = int(info["maxmemory"])
    counted = int(info["used_memory"]) - int(info.get("mem_not_counted_for_evict", 0))
    return {
        "node": name,
        "used_memory": int(info["used_memory"]),
        "maxmemory": maxmemory,
        "policy": info["maxmemory_policy"],
        "evicted_keys": int(info["evicted_keys"]),
        # Over the limit with nothing its policy may evict: Redis refuses writes. (Over it with
        # keys to evict is a moment in the middle of an eviction, which goes on by itself.)
        "full": bool(maxmemory) and counted > maxmemory and not _evictable(info),
    }


def memory() -> dict[str, Any]:
    """Redis memory: bytes used, ``maxmemory`` (0: no limit), the eviction policy, keys evicted
    since the server started, and ``full`` (over ``maxmemory`` with no key its policy may evict:
    Redis refuses writes). Per primary in ``nodes`` (one on a single Redis) and summed over them
    (``maxmemory`` 0 if any primary has no limit). One INFO per primary."""
    found = call(lambda r: client.server_info(r, "memory", "stats", "keyspace"))
    nodes = [_node_memory(name, info) for name, info in found if info is not None]
    policies = sorted({n["policy"] for n in nodes})
    return {
        "used_memory": sum(n["used_memory"] for n in nodes),
        "maxmemory": sum(n["maxmemory"] for n in nodes) if all(n["maxmemory"] for n in nodes) else 0,
        "policy": ",".join(policies) or "unknown",
        "evicted_keys": sum(n["evicted_keys"] for n in nodes),
        "full": any(n["full"] for n in nodes),
        "nodes": nodes,
    }


def cache_state() -> str:
    """``ok``; ``full`` (Redis answers but refuses writes for want of memory: hits are still
    served, misses are not stored, counts are lost); or ``unavailable``."""
    try:
        return "full" if memory()["full"] else "ok"
    except CacheUnavailable:
        return "unavailable"
