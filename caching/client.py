"""The Redis boundary: the only module that holds a Redis client, and the one failure policy.

django-redis owns the connection pool (``CACHES['default']``, short connect and socket
timeouts, no retries). Its connection factory (``caching.connections``) gives a
``redis.cluster.RedisCluster`` for a ``redis+cluster://`` location and a ``redis.Redis``
otherwise; the service runs the same operations on either (its keys carry hash tags,
``caching.keys``). Every call from the service goes through ``call()``:

- an ``UNAVAILABLE`` error becomes ``CacheUnavailable``, which callers turn into a database
  read (``X-Cache: BYPASS``) or an outbox entry; other Redis errors are bugs and propagate;
- a write refused for want of memory (-OOM: ``maxmemory`` reached under ``noeviction``) becomes
  ``CacheFull``, a ``CacheUnavailable`` that callers treat as "not stored"; Redis answered, so
  the breaker does not count it (the scripts catch their own refusals: ``caching.scripts``);
- a circuit breaker: after ``BREAKER_FAILURES`` failures in a row it opens and calls fail at
  once, without touching Redis, for ``BREAKER_COOLDOWN_MS``; then one call probes (half-open):
  success closes it, failure opens it again;
- each degradation and each recovery is logged once per process, not per request.
"""

import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis
from django.core.signals import setting_changed
from django_redis import get_redis_connection
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, NoScriptError, RedisClusterException, TryAgainError

from caching import metrics, scripts
from caching.conf import options

log = logging.getLogger("caching")
T = TypeVar("T")

# Redis cannot serve: unreachable, too slow, a replica promoted no more (read-only). Other errors
# (a wrong type, a script error) are bugs; an out-of-memory refusal is neither (CacheFull).
# On a cluster: no node reachable, a slot without a primary (mid-failover), the cluster down.
# ClusterError covers CLUSTERDOWN and MASTERDOWN; MOVED, ASK and TRYAGAIN reach us only from
# a plain connection to one node (caching.replication) while slots move.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError,
               redis.exceptions.ClusterError, redis.exceptions.SlotNotCoveredError, MovedError, AskError, TryAgainError)
# The same, as error replies redis-py has no class for: persistence failing, a script running.
UNAVAILABLE_REPLIES = ("MISCONF", "BUSY")
# The cluster client's own errors when it cannot find a node to ask (its other errors, such as
# keys of one command in several slots, are bugs).
UNAVAILABLE_CLUSTER = ("Redis Cluster cannot be connected", "All slots are not covered", "startup_nodes could not agree",
                       "No targets were found")


def _unavailable(error: Exception) -> bool:
    if isinstance(error, UNAVAILABLE):
        return True
    if isinstance(error, RedisClusterException):
        return str(error).startswith(UNAVAILABLE_CLUSTER)
    return isinstance(error, redis.ResponseError) and str(error).startswith(UNAVAILABLE_REPLIES)


class CacheUnavailable(Exception):
    """Redis could not be reached in time, or the breaker is open; serve without the cache."""


class CacheFull(CacheUnavailable):
    """Redis refused a write for want of memory (``maxmemory`` under ``noeviction``, or a
    volatile-* policy with no key left to evict): nothing was written. Not an outage."""


class Unacknowledged(Exception):
    """Redis took a write, but no replica confirmed it in time (``caching.replication``): keep
    the work for replay. Redis answered, so the breaker does not count it."""


class Breaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state = self.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.last_success = 0.0
        self.last_failure = 0.0

    def allow(self) -> bool:
        """Whether a call may go to Redis now (in half-open state: only the one probe)."""
        if self.state == self.CLOSED:
            return True
        with self._lock:
            if self.state == self.OPEN and time.monotonic() - self.opened_at >= options().breaker_cooldown_ms / 1000:
                self.state = self.HALF_OPEN
                return True
            return False

    def succeeded(self) -> None:
        self.last_success = time.monotonic()
        if self.state == self.CLOSED and not self.failures:
            return
        with self._lock:
            if self.state != self.CLOSED:
                log.warning("event=cache_recovered breaker=closed message=\"cache recovered: Redis answers again\"")
                metrics.BREAKER_OPEN.set(0)
            self.state, self.failures = self.CLOSED, 0

    def refused(self) -> None:
        """Redis answered, but refused a write: not a failure of Redis, yet whatever was not
        written may have been an invalidation, so the process checks the outbox again before
        its next hit (``caching.outbox``, which compares with ``last_failure``)."""
        self.succeeded()
        self.last_failure = time.monotonic()

    def closed(self) -> bool:
        return self.state == self.CLOSED

    def abandoned(self) -> None:
        """A probe ended without telling whether Redis is back: stay open, probe again later."""
        with self._lock:
            if self.state == self.HALF_OPEN:
                self.state, self.opened_at = self.OPEN, time.monotonic()

    def failed(self, error: Exception) -> None:
        with self._lock:
            self.last_failure = time.monotonic()
            self.failures += 1
            if self.state == self.HALF_OPEN or self.failures >= options().breaker_failures:
                if self.state == self.CLOSED:
                    log.error("event=cache_degraded breaker=open failures=%d error=%s message=\"cache degraded: serving from the database\"", self.failures, json.dumps(str(error)))
                    metrics.BREAKER_OPEN.set(1)
                self.state, self.opened_at = self.OPEN, time.monotonic()


breaker = Breaker()


_client: redis.Redis | None = None


def connection() -> redis.Redis | RedisCluster:
    """The process's client (django-redis's pool for ``CACHES['default']``, or the cluster
    client), looked up once."""
    global _client
    if _client is None:
        _client = get_redis_connection("default")
    return _client


def is_cluster(r) -> bool:
    return isinstance(r, RedisCluster)


def load_scripts(r) -> None:
    """Load every script (on a cluster: on every primary). After a failover the promoted
    replica's script cache may lack them; a NOSCRIPT reply sends callers here."""
    for name in scripts.NAMES:
        r.script_load(getattr(scripts, name))


SHAS = {name: hashlib.sha1(getattr(scripts, name).encode()).hexdigest() for name in scripts.NAMES}


def run_script(r, name: str, keys: list[str], args: list) -> object:
    """EVALSHA straight on a pooled connection: the hit path's one round trip without
    redis-py's per-command wrappers (retry and metrics bookkeeping, about a tenth of a hit).
    On a cluster, through the client, which routes by the keys' (shared) slot."""
    sha = SHAS[name]
    if is_cluster(r):
        try:
            return r.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            load_scripts(r)
            return r.evalsha(sha, len(keys), *keys, *args)
    pool = r.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return conn.read_response()
        except NoScriptError:  # Redis restarted or flushed its scripts
            conn.send_command("SCRIPT", "LOAD", getattr(scripts, name))
            conn.read_response()
            conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
            return conn.read_response()
    except (redis.ConnectionError, redis.TimeoutError):
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def primaries(r) -> list[tuple[str, redis.Redis]]:
    """``(name, client)`` of every primary: the one server of a single Redis, or a plain client
    to each primary of a cluster."""
    if not is_cluster(r):
        where = r.connection_pool.connection_kwargs
        return [(where.get("path") or f"{where.get('host')}:{where.get('port')}", r)]
    return [(node.name, r.get_redis_connection(node)) for node in r.get_primaries()]


def server_info(r, *sections: str) -> list[tuple[str, dict | None]]:
    """``INFO <sections>`` of every primary, by name; ``None`` for a server that refuses INFO
    (an ACL, a renamed command): what it would tell is unknown, not an outage."""
    found = []
    for name, node in primaries(r):
        try:
            found.append((name, node.info(*sections)))
        except redis.ResponseError as error:
            log.warning("event=info_refused node=%s error=%s", name, json.dumps(str(error)))
            found.append((name, None))
    return found


def pipelined(r, queue: Callable[[Any], None]) -> list:
    """The commands ``queue(pipe)`` adds, sent in one round trip (on a cluster client: one per
    node). Scripts go in as ``pipe.execute_command("EVALSHA", ...)`` (redis-py's cluster
    pipeline refuses ``evalsha()``): after a NOSCRIPT reply they are loaded and the whole
    pipeline runs again, so what it queues must be safe to repeat."""
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


def by_slot(names: Iterable[str]) -> Iterable[list[str]]:
    """``names`` grouped by hash slot: a multi-key command on a cluster takes one slot's keys."""
    ordered = sorted(names, key=key_slot_of)
    for _, group in itertools.groupby(ordered, key=key_slot_of):
        yield list(group)


def key_slot_of(name: str) -> int:
    return key_slot(name.encode())


def unlink(r, names: list[str]) -> int:
    """UNLINK ``names``: one command on a single Redis; on a cluster one per slot, pipelined
    (as ``execute_command``: redis-py's cluster pipeline refuses a multi-key ``unlink()``)."""
    if not names:
        return 0
    if not is_cluster(r):
        return r.unlink(*names)
    return sum(pipelined(r, lambda pipe: [pipe.execute_command("UNLINK", *group) for group in by_slot(names)]))


def call(operation: Callable[[redis.Redis], T], *, through_open_breaker: bool = False) -> T:
    """Run ``operation`` on the client under the failure policy above. ``through_open_breaker``
    tries Redis even while the breaker is open (a write's invalidation: see ``outbox.deliver``)."""
    if not breaker.allow() and not through_open_breaker:
        raise CacheUnavailable("circuit breaker open")
    try:
        result = operation(connection())
    except Unacknowledged as error:
        breaker.succeeded()
        raise CacheUnavailable(str(error)) from error
    except redis.OutOfMemoryError as error:
        breaker.refused()
        raise CacheFull(str(error)) from error
    except (redis.RedisError, RedisClusterException) as error:
        if _unavailable(error):
            breaker.failed(error)
            raise CacheUnavailable(str(error)) from error
        if isinstance(error, redis.ResponseError):
            breaker.succeeded()  # Redis answered; the error is ours
        else:
            breaker.abandoned()
        raise
    except BaseException:
        breaker.abandoned()
        raise
    breaker.succeeded()
    return result


def last_success() -> float:
    return breaker.last_success


def last_failure() -> float:
    return breaker.last_failure


def _reset(*, setting: str, **kwargs) -> None:
    """A test that points the cache elsewhere starts with a fresh client and breaker."""
    global breaker, _client
    if setting in ("CACHES", "CACHE_LAYER"):
        breaker = Breaker()
    if setting == "CACHES":
        _client = None


setting_changed.connect(_reset, dispatch_uid="caching.client.reset")
