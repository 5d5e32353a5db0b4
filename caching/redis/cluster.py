"""Routing that differs between one Redis and a Redis Cluster: primaries, hash slots, deletes per
slot, and pipelines (one per node on a cluster) that reload scripts a promoted replica lacks."""

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from caching.redis.connection import Client, is_cluster
from caching.redis.scripts import load_scripts

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
