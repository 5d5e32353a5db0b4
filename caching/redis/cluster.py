"""Routing that differs between one Redis and a Redis Cluster: primaries, hash slots, deletes per
slot, and pipelines (one per node on a cluster) that reload scripts a promoted replica lacks."""

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, NoScriptError, RedisClusterException

from caching.redis.connection import Client, is_cluster
from caching.redis.scripts import load_scripts, run_script

log = logging.getLogger("caching")


def name_of(r: redis.Redis) -> str:
    """A single Redis's name: its socket's path, or ``host:port``."""
    where = r.connection_pool.connection_kwargs
    return where.get("path") or f"{where.get('host')}:{where.get('port')}"


def primaries(r: Client) -> list[tuple[str, redis.Redis]]:
    """``(name, client)`` of every primary: the one server of a single Redis, or a plain client
    to each primary of a cluster."""
    if not isinstance(r, RedisCluster):
        return [(name_of(r), r)]
    nodes: list[ClusterNode] = r.get_primaries()  # type: ignore[no-untyped-call]
    return [(node.name, r.get_redis_connection(node)) for node in nodes]


def connection_for(r: Client, key: str) -> redis.Redis:
    """A plain client to the primary serving ``key`` (the client's slot map); one Redis's own."""
    if not isinstance(r, RedisCluster):
        return r
    return r.get_redis_connection(r.get_node_from_key(key))  # type: ignore[no-untyped-call]


def run_on_owner(r: Client, name: str, keys: list[str], args: list[Any]) -> tuple[Any, bool]:
    """Script ``name``'s reply, and whether the primary the client's map names for ``keys[0]``
    gave it (always, on one Redis): on a cluster it runs there over a plain connection, which
    follows no redirection; a slot on the move (MOVED, ASK) runs it through the cluster client,
    which follows them (and learns the new map)."""
    if not isinstance(r, RedisCluster):
        return run_script(r, name, keys, args), True
    try:
        return run_script(connection_for(r, keys[0]), name, keys, args), True
    except (MovedError, AskError):
        return run_script(r, name, keys, args), False


SlotMap = dict[str, list[tuple[int, int]]]  # a primary's name: the slot ranges it serves


def confirmed_slot_map(r: Client, asked: str | None) -> SlotMap:
    """The cluster's slot map as node ``asked`` (else any primary) sees it, the client's made
    to agree (reloaded once if it does not); raises if it still does not (a map in flux), or
    if the node does not answer."""
    assert isinstance(r, RedisCluster)
    seen = _slot_map(r, asked)
    if not _routes_as(r, seen):
        r.nodes_manager.initialize()
        if not _routes_as(r, seen):
            raise RedisClusterException("the client and the cluster disagree about the slot map")
    return seen


def _slot_map(r: RedisCluster, asked: str | None) -> SlotMap:
    """The slot ranges of each primary, as ``CLUSTER SLOTS`` on ``asked`` shows them, named as
    redis-py names them (an empty host is the asked node's; its address remap applied)."""
    node = r.get_node(node_name=asked) if asked else None  # type: ignore[no-untyped-call]
    node = node or r.get_primaries()[0]  # type: ignore[no-untyped-call]
    conn = r.get_redis_connection(node)
    found: SlotMap = {}
    for low, high, primary, *_ in conn.execute_command("CLUSTER SLOTS"):  # type: ignore[no-untyped-call]
        host = primary[0].decode() if isinstance(primary[0], bytes) else primary[0]
        host, port = r.nodes_manager.remap_host_port(host or node.host, int(primary[1]))
        found.setdefault(f"{host}:{port}", []).append((int(low), int(high)))
    if not found:
        raise RedisClusterException(f"{node.name} knows no primary that serves slots")
    return found


def _routes_as(r: RedisCluster, seen: SlotMap) -> bool:
    """Whether the client sends every slot of ``seen`` to the primary ``seen`` says."""
    slots = r.nodes_manager.slots_cache
    return all(
        slots.get(slot) and slots[slot][0].name == name
        for name, ranges in seen.items()
        for low, high in ranges
        for slot in range(low, high + 1)
    )


def server_info(r: Client, *sections: str) -> list[tuple[str, dict[str, Any] | None]]:
    """``INFO <sections>`` of every primary, by name; ``None`` for a server that refuses INFO
    (an ACL, a renamed command): what it would tell is unknown, not an outage."""
    found: list[tuple[str, dict[str, Any] | None]] = []
    for name, node in primaries(r):
        try:
            found.append((name, node.info(*sections)))
        except redis.ResponseError as error:
            log.warning(
                "INFO refused", extra={"event": "info_refused", "node": name, "error": str(error)}
            )
            found.append((name, None))
    return found


def pipelined(r: Client, queue: Callable[[Any], object]) -> list[Any]:
    """The commands ``queue(pipe)`` adds, in one round trip (on a cluster, one per node). Scripts
    go in as ``execute_command("EVALSHA", ...)`` (the cluster pipeline refuses ``evalsha()``);
    after a NOSCRIPT the whole pipeline runs again, so what it queues must be safe to repeat."""
    for attempt in (1, 2):
        pipe = r.pipeline(transaction=False)
        queue(pipe)
        try:
            return pipe.execute()
        except NoScriptError:
            if attempt == 2:
                raise
            load_scripts(r)
    raise AssertionError("unreachable")


def key_slot_of(name: str) -> int:
    return key_slot(name.encode())


def by_slot(names: Iterable[str]) -> Iterable[list[str]]:
    """``names`` grouped by hash slot: a multi-key command on a cluster takes one slot's keys."""
    ordered = sorted(names, key=key_slot_of)
    for _, group in itertools.groupby(ordered, key=key_slot_of):
        yield list(group)


def unlink(r: Client, names: list[str]) -> int:
    """UNLINK ``names``: one command on a single Redis; on a cluster one per slot, pipelined
    (as ``execute_command``: redis-py's cluster pipeline refuses a multi-key ``unlink()``)."""
    if not names:
        return 0
    if not is_cluster(r):
        return int(r.unlink(*names))
    groups = list(by_slot(names))
    return sum(pipelined(r, lambda pipe: [pipe.execute_command("UNLINK", *g) for g in groups]))
