"""The one failure policy for every call to Redis, ``call()``, with its circuit breakers
(docs/failures.md): Redis unavailable is ``CacheUnavailableError``, out of memory
``CacheFullError`` (not a breaker failure), any other Redis error a bug that propagates. On a
cluster a call about one key counts against the breaker of the primary serving its slot."""

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterError,
    MovedError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from caching.core import breaker as breakers
from caching.core import metrics
from caching.core.options import options
from caching.core.state import STATE
from caching.redis.connection import Client, built, client

log = logging.getLogger("caching")
T = TypeVar("T")

# Redis cannot serve (docs/failures.md lists what counts). ClusterError covers CLUSTERDOWN and
# MASTERDOWN; MOVED, ASK and TRYAGAIN reach us only from a plain connection to one node
# (caching.redis.replication) while slots move.
UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.ReadOnlyError,
    ClusterError,
    SlotNotCoveredError,
    MovedError,
    AskError,
    TryAgainError,
)
# The same, as error replies redis-py has no class for: persistence failing, a script running.
UNAVAILABLE_REPLIES = ("MISCONF", "BUSY")
# The cluster client's own errors when it cannot find a node to ask (its other errors, such as
# keys of one command in several slots, are bugs).
UNAVAILABLE_CLUSTER = (
    "Redis Cluster cannot be connected",
    "All slots are not covered",
    "startup_nodes could not agree",
    "No targets were found",
)


def _unavailable(error: Exception) -> bool:
    if isinstance(error, UNAVAILABLE):
        return True
    if isinstance(error, RedisClusterException):
        return str(error).startswith(UNAVAILABLE_CLUSTER)
    return isinstance(error, redis.ResponseError) and str(error).startswith(UNAVAILABLE_REPLIES)


class CacheUnavailableError(Exception):
    """Redis could not be reached in time, or the breaker is open; serve without the cache."""


class CacheFullError(CacheUnavailableError):
    """Redis refused a write for want of memory: nothing was written. Not an outage."""


class UnacknowledgedError(Exception):
    """Redis took a write, but no replica confirmed it in time (``caching.redis.replication``):
    keep the work for replay. Redis answered, so the breaker does not count it."""


class Breaker(breakers.Breaker):
    """A breaker with the options' limits (``CACHE_BREAKER_*``), and the time it last saw Redis
    fail or had reason to suspect it did (``last_failure``, read by ``doubted_since``)."""

    def __init__(self, node: str = "") -> None:
        self.node = node  # a cluster primary's name; "" for the process's own
        super().__init__(
            lambda: options().breaker_failures, lambda: options().breaker_cooldown_ms / 1000
        )

    def reset(self) -> None:
        super().reset()
        self.last_failure = 0.0

    def failed(self, error: Exception) -> None:
        self.last_failure = time.monotonic()
        super().failed(error)

    def refused(self) -> None:
        """Redis answered, but refused a write: not a failure, yet what was not written may have
        been an invalidation, so the outbox is checked again before the next hit."""
        self.succeeded()
        self.suspect()

    def suspect(self) -> None:
        """Redis may have held back or refused a write unseen (the near cache's heartbeat lapsed,
        or its connection was lost): check the outbox before the next hit; the state stays."""
        self.last_failure = time.monotonic()

    def changed(self, was: str, error: Exception | None) -> None:
        _show_open()
        if error is None:
            log.warning(
                "cache recovered: Redis answers again",
                extra={"event": "cache_recovered", "breaker": "closed", "node": self.node},
            )
        elif was == self.CLOSED:
            log.error(
                "cache degraded: serving from the database",
                extra={
                    "event": "cache_degraded",
                    "breaker": "open",
                    "node": self.node,
                    "failures": self.failures,
                    "error": str(error),
                },
            )


BREAKER = Breaker()  # calls about no one key, and every call on one Redis
NODE_BREAKERS: dict[str, Breaker] = {}  # on a cluster: calls about one key, by its primary


def _reset() -> None:
    BREAKER.reset()
    NODE_BREAKERS.clear()
    _show_open()


STATE.on_reset(_reset)


_SHOWING = threading.Lock()  # one at a time: the last to show has seen every change before it


def _show_open() -> None:
    with _SHOWING:
        everyone = [BREAKER, *NODE_BREAKERS.values()]
        metrics.BREAKER_OPEN.set(int(any(b.state != Breaker.CLOSED for b in everyone)))


def breaker(node: str | None = None) -> Breaker:
    """The breaker of cluster primary ``node``, or the process's own."""
    if not node:
        return BREAKER
    found = NODE_BREAKERS.get(node)
    return found if found is not None else NODE_BREAKERS.setdefault(node, Breaker(node))


def node_of(key: str) -> str | None:
    """The name of the cluster primary that serves ``key`` now (the client's slot map); ``None``
    on one Redis, for a slot no primary serves, or before the client is built (the call builds
    it, or fails under the process's breaker)."""
    r = built()
    if not isinstance(r, RedisCluster):
        return None
    try:
        return r.nodes_manager.get_node_from_slot(key_slot(key.encode())).name
    except SlotNotCoveredError:
        return None


def call(
    operation: Callable[[Client], T], *, key: str | None = None, through_open_breaker: bool = False
) -> T:
    """Run ``operation`` on the client under the failure policy; a call about ``key`` counts
    against its primary's breaker. ``through_open_breaker`` tries Redis even while the breaker
    is open (a write's invalidation, ``delivery.deliver``)."""
    current = breaker(node_of(key)) if key is not None else BREAKER
    if not current.allow() and not through_open_breaker:
        raise CacheUnavailableError("circuit breaker open")
    try:
        result = operation(client())
    except UnacknowledgedError as error:
        current.succeeded()
        raise CacheUnavailableError(str(error)) from error
    except redis.OutOfMemoryError as error:
        current.refused()
        raise CacheFullError(str(error)) from error
    except (redis.RedisError, RedisClusterException) as error:
        if _unavailable(error):
            current.failed(error)
            raise CacheUnavailableError(str(error)) from error
        if isinstance(error, redis.ResponseError):
            current.succeeded()  # Redis answered; the error is ours
        else:
            current.abandoned()
        raise
    except BaseException:
        current.abandoned()
        raise
    current.succeeded()
    return result


def probe() -> None:
    """While the process's breaker is open, its probe once the cooldown is over (raises
    ``CacheUnavailableError`` until Redis answers). Not on a cluster: there reads answer to
    their primaries' breakers, and the process's (calls about no one key: stats, INFO for
    /metrics) must not stop them because one primary is frozen."""
    if not BREAKER.closed() and not isinstance(built(), RedisCluster):
        call(lambda r: r.ping())


def doubted_since(moment: float) -> bool:
    """Has this process seen Redis (any primary) fail or refuse a write, or had reason to
    suspect so, since ``moment`` (monotonic)? Then the outbox is checked again before the next
    hit."""
    if BREAKER.last_failure >= moment:
        return True
    return bool(NODE_BREAKERS) and any(
        b.last_failure >= moment for b in list(NODE_BREAKERS.values())
    )
