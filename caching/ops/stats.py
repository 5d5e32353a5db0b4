"""The read counters the READ and STORE scripts keep (and the HITS script, for hits served
near: ``caching.near.hit_counts``): hits, misses and loads per namespace (summed over its
shards), the per-minute history, and their reset. This process's own near hits are flushed
before each read of them; other processes' within ``tier.FLUSH_S``."""

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
    """Hits, misses, hit rate, database loads (and key counts) per registered namespace, plus
    totals. ``loads`` counts the loader calls that misses caused: with leases, one per key per
    fill, however many requests missed together. One pipeline for the counters."""
    flush_counts()
    shards = _shards()
    hashes = call(
        lambda r: pipelined(r, lambda pipe: [pipe.hgetall(keys.stats(*s)) for s in shards])
    )
    counters: dict[tuple[str, str], int] = {}
    for (name, _), counts in zip(shards, hashes, strict=True):
        for field, value in counts.items():
            counters[name, field.decode()] = counters.get((name, field.decode()), 0) + int(value)
    key_counts = count_keys() if with_keys else {}
    result: dict[str, Any] = {"namespaces": {}}
    total_hits = total_misses = 0
    for name in rules.namespaces():
        hits, misses, loads = (counters.get((name, c), 0) for c in ("hits", "misses", "loads"))
        total_hits, total_misses = total_hits + hits, total_misses + misses
        row = {"hits": hits, "misses": misses, "hit_rate": _rate(hits, misses), "loads": loads}
        if with_keys:
            row["keys"] = key_counts[name]
        result["namespaces"][name] = row
    result["total"] = {
        "hits": total_hits,
        "misses": total_misses,
        "hit_rate": _rate(total_hits, total_misses),
    }
    return result


def history(minutes: int = 60) -> list[dict[str, Any]]:
    """Hits and misses per minute over the last ``minutes`` (all namespaces), oldest first;
    one pipeline over the hourly buckets of every shard."""
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
    counts: dict[str, int] = {}
    for bucket in buckets:
        for field, value in bucket.items():
            counts[field.decode()] = counts.get(field.decode(), 0) + int(value)
    rows = []
    for minute in span:
        hits, misses = counts.get(f"{minute}:hits", 0), counts.get(f"{minute}:misses", 0)
        rate = _rate(hits, misses) if hits + misses else None
        rows.append({"minute": minute * 60, "hits": hits, "misses": misses, "hit_rate": rate})
    return rows


def reset_stats() -> None:
    """Zero the counters and the history: every shard's stats hash and hourly buckets (named,
    not scanned: buckets live ``keys.HISTORY_SECONDS``). This process's unflushed near hits
    go too; another process's may still land after the reset (within ``FLUSH_S``)."""
    discard_counts()

    def run(r: Client) -> None:
        hour = int(r.time()[0]) // 3600
        hours = range(hour - keys.HISTORY_SECONDS // 3600, hour + 1)
        shards = _shards()
        names = [keys.stats(*s) for s in shards]
        names += [keys.history(*s, h) for s in shards for h in hours]
        unlink(r, names)

    call(run)
