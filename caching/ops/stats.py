"""The read counters the scripts keep: hits, misses, loads and stale answers (a kind of miss) per
namespace (summed over its shards), the per-minute history, and their reset (near hits:
docs/near-cache.md)."""

from collections import Counter
from typing import Any

from caching.core import keys, rules
from caching.near.tier import discard_counts, flush_counts
from caching.ops.keyspace import count_keys
from caching.redis.cluster import pipelined, unlink
from caching.redis.connection import Client
from caching.redis.policy import call


def _shards() -> list[tuple[str, int]]:
    """Every (namespace, shard) whose counters may exist."""
    return [
        (name, shard)
        for name in rules.namespaces()
        for shard in keys.shards(rules.require(name).generational)
    ]


def _rate(hits: int, misses: int) -> float:
    return round(hits / (hits + misses), 4) if hits + misses else 0.0


def stats(*, with_keys: bool = True) -> dict[str, Any]:
    """Hits, misses, hit rate, loads, stale answers (counted among the misses) and key counts
    per namespace, and totals."""
    flush_counts()
    shards = _shards()
    hashes = call(
        lambda r: pipelined(r, lambda pipe: [pipe.hgetall(keys.stats(*s)) for s in shards])
    )
    counters: Counter[tuple[str, str]] = Counter()
    for (name, _), counts in zip(shards, hashes, strict=True):
        counters.update({(name, field.decode()): int(value) for field, value in counts.items()})
    key_counts = count_keys() if with_keys else {}
    result: dict[str, Any] = {"namespaces": {}}
    for name in rules.namespaces():
        hits, misses, loads, stale = (
            counters[name, c] for c in ("hits", "misses", "loads", "stale")
        )
        row = {
            "hits": hits,
            "misses": misses,
            "hit_rate": _rate(hits, misses),
            "loads": loads,
            "stale": stale,
        }
        if with_keys:
            row["keys"] = key_counts[name]
        result["namespaces"][name] = row
    rows = result["namespaces"].values()
    hits, misses = sum(row["hits"] for row in rows), sum(row["misses"] for row in rows)
    stale = sum(row["stale"] for row in rows)
    result["total"] = {
        "hits": hits,
        "misses": misses,
        "hit_rate": _rate(hits, misses),
        "stale": stale,
    }
    return result


def history(minutes: int = 60) -> list[dict[str, Any]]:
    """Hits and misses per minute over the last ``minutes`` (all namespaces), oldest first."""
    flush_counts()
    shards = _shards()

    def run(r: Client) -> tuple[range, list[dict[bytes, bytes]]]:
        now = int(r.time()[0]) // 60  # Redis's clock, which named the buckets
        span = range(now - minutes + 1, now + 1)
        hours = range(span[0] // 60, now // 60 + 1)
        buckets = pipelined(
            r, lambda pipe: [pipe.hgetall(keys.history(*s, hour)) for s in shards for hour in hours]
        )
        return span, buckets

    span, buckets = call(run)
    counts: Counter[str] = Counter()
    for bucket in buckets:
        counts.update({field.decode(): int(value) for field, value in bucket.items()})
    rows = []
    for minute in span:
        hits, misses = counts[f"{minute}:hits"], counts[f"{minute}:misses"]
        rate = _rate(hits, misses) if hits + misses else None
        rows.append({"minute": minute * 60, "hits": hits, "misses": misses, "hit_rate": rate})
    return rows


def reset_stats() -> None:
    """Zero the counters and the history (named, not scanned: buckets live
    ``keys.HISTORY_SECONDS``); another process's unflushed near hits may land after it."""
    discard_counts()

    def run(r: Client) -> None:
        hour = int(r.time()[0]) // 3600
        hours = range(hour - keys.HISTORY_SECONDS // 3600, hour + 1)
        shards = _shards()
        names = [keys.stats(*s) for s in shards]
        names += [keys.history(*s, h) for s in shards for h in hours]
        unlink(r, names)

    call(run)
