"""Invalidations that survive a failover: delivered only once a replica of each primary touched
has them (``WAIT``; docs/cluster.md, "Writes survive the failover")."""

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import MovedError

from caching.core.state import STATE
from caching.redis.cluster import key_slot_of, name_of, pipelined
from caching.redis.connection import Client
from caching.redis.policy import UnacknowledgedError

log = logging.getLogger("caching")
RECHECK_S = 5.0  # a primary's online replicas are looked at this often
GRACE_S = 5.0  # a primary's last replica, gone, may come back without the write: queue meanwhile


@dataclass
class _Primary:
    online: int = 0  # replicas streaming from it at the last check
    checked_at: float = -math.inf
    replica_seen_at: float = -math.inf


Command = tuple[Any, ...]


PRIMARIES: dict[str, _Primary] = {}  # what is known of each primary, by name
STATE.on_reset(PRIMARIES.clear)


def run_durably(r: Client, commands: list[tuple[str, Command]], *, replica_ack_ms: int) -> None:
    """Run ``commands`` (``(key, command args)``, each on one slot's keys): one pipeline per
    primary, each waiting for a replica; raises ``UnacknowledgedError`` or a Redis error. A
    MOVED or a refused connection on a cluster refreshes the slot map; the work is tried again."""
    for attempt in (1, 2):
        try:
            for conn, name, batch, listed in _by_primary(r, commands):
                _run_on(conn, name, batch, replica_ack_ms, listed)
            return
        except (redis.ConnectionError, MovedError):
            if attempt == 2 or not isinstance(r, RedisCluster):
                raise
            r.nodes_manager.initialize()


def _by_primary(
    r: Client, commands: list[tuple[str, Command]]
) -> list[tuple[redis.Redis, str, list[Command], bool]]:
    """Per primary: a client to it, its name, its commands, and whether the slot map lists a
    replica of it (unknown on one Redis: ``False``)."""
    if not isinstance(r, RedisCluster):
        return [(r, name_of(r), [args for _, args in commands], False)]
    nodes: dict[str, Any] = {}
    listed: dict[str, bool] = {}
    batches: dict[str, list[Command]] = {}
    for key, args in commands:
        slot = key_slot_of(key)
        node = r.nodes_manager.get_node_from_slot(slot)
        nodes[node.name] = node
        listed[node.name] = len(r.nodes_manager.slots_cache.get(slot, ())) > 1
        batches.setdefault(node.name, []).append(args)
    return [
        (r.get_redis_connection(nodes[name]), name, batch, listed[name])
        for name, batch in batches.items()
    ]


def _run_on(
    conn: redis.Redis, name: str, batch: list[Command], replica_ack_ms: int, listed: bool
) -> None:
    state = PRIMARIES.setdefault(name, _Primary())
    now = time.monotonic()
    if now - state.checked_at > RECHECK_S:
        state.online, state.checked_at = online_replicas(conn), now
        # A primary first seen with a replica listed but none streaming (just promoted: its
        # replica, the old primary perhaps, not in sync yet) counts as having lost it now.
        first = state.replica_seen_at == -math.inf
        if state.online or (listed and first):
            state.replica_seen_at = now
    wait = state.online > 0

    def queue(pipe: Any) -> None:
        for args in batch:
            pipe.execute_command(*args)
        if wait:
            pipe.execute_command("WAIT", 1, replica_ack_ms)

    results = pipelined(conn, queue)
    if wait:
        if results[-1] >= 1:
            state.replica_seen_at = time.monotonic()
            return
        state.checked_at = -math.inf  # look at its replicas again next time
        raise UnacknowledgedError(f"no replica of {name} acknowledged within {replica_ack_ms} ms")
    if now - state.replica_seen_at < GRACE_S:
        raise UnacknowledgedError(
            f"{name} had a replica {now - state.replica_seen_at:.1f} s ago; "
            "it may come back without this write"
        )


def online_replicas(conn: redis.Redis) -> int:
    """Replicas streaming from this primary now (``INFO replication``). Where the server refuses
    ``INFO`` (an ACL, a renamed command) none are known, and writes do not wait; that is logged."""
    try:
        info = conn.info("replication")
    except redis.ResponseError as error:
        log.warning(
            "INFO refused: invalidations are not confirmed by replicas",
            extra={"event": "replicas_unknown", "error": str(error)},
        )
        return 0
    return sum(
        1
        for field, value in info.items()
        if field.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )
