"""Redis memory as the operators' views show it: per primary, in total, and whether ``full``."""

import re
from typing import Any

from caching.redis.cluster import server_info
from caching.redis.policy import CacheUnavailableError, call

_DATABASE = re.compile(r"db\d+")


def _evictable(info: dict[str, Any]) -> int:
    """Keys the server's policy may evict: all of them (allkeys-*), those with a TTL
    (volatile-*), none (noeviction)."""
    databases = [value for name, value in info.items() if _DATABASE.fullmatch(name)]
    policy = info["maxmemory_policy"]
    if policy.startswith("allkeys-"):
        return sum(db["keys"] for db in databases)
    if policy.startswith("volatile-"):
        return sum(db["expires"] for db in databases)
    return 0


def _node_memory(name: str, info: dict[str, Any]) -> dict[str, Any]:
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
    """Redis memory per primary in ``nodes`` and summed over them (``maxmemory`` 0: a primary
    has no limit). One INFO per primary."""
    found = call(lambda r: server_info(r, "memory", "stats", "keyspace"))
    nodes = [_node_memory(name, info) for name, info in found if info is not None]
    policies = sorted({n["policy"] for n in nodes})
    return {
        "used_memory": sum(n["used_memory"] for n in nodes),
        "maxmemory": sum(n["maxmemory"] for n in nodes)
        if all(n["maxmemory"] for n in nodes)
        else 0,
        "policy": ",".join(policies) or "unknown",
        "evicted_keys": sum(n["evicted_keys"] for n in nodes),
        "full": any(n["full"] for n in nodes),
        "nodes": nodes,
    }


def memory_rows(found: dict[str, Any]) -> list[dict[str, Any]]:
    """An operator's table of ``memory()``: one row per primary, and a total when several."""
    total = [{**found, "node": "total"}] if len(found["nodes"]) > 1 else []
    return [*found["nodes"], *total]


def cache_state() -> str:
    """``ok``, ``full`` (Redis refuses writes for want of memory) or ``unavailable``."""
    try:
        return "full" if memory()["full"] else "ok"
    except CacheUnavailableError:
        return "unavailable"
