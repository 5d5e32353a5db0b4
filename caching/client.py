"""The Redis boundary: the only module that holds a Redis client, and the one failure policy.

django-redis owns the connection pool (``CACHES['default']``, short connect and socket
timeouts, no retries). Its connection factory is ``ConnectionFactory`` below: a
``redis+cluster://host:port,host:port`` location gives a ``redis.cluster.RedisCluster`` instead
of a ``redis.Redis``, and the service runs the same operations on either (its keys carry hash
tags, ``caching.keys``). Every call from the service goes through ``call()``:

- an ``UNAVAILABLE`` error becomes ``CacheUnavailable``, which callers turn into a database
  read (``X-Cache: BYPASS``) or an outbox entry; other Redis errors are bugs and propagate;
- a circuit breaker: after ``BREAKER_FAILURES`` failures in a row it opens and calls fail at
  once, without touching Redis, for ``BREAKER_COOLDOWN_MS``; then one call probes (half-open):
  success closes it, failure opens it again;
- each degradation and each recovery is logged once per process, not per request.
"""

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django_redis import get_redis_connection
from django_redis.pool import ConnectionFactory as DefaultConnectionFactory
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, NoScriptError, RedisClusterException
from redis.retry import Retry

from caching import metrics, scripts
from caching.conf import options

log = logging.getLogger("caching")
T = TypeVar("T")

# Redis cannot serve: unreachable, too slow, a replica promoted no more (read-only), or out of
# memory under a noeviction policy. Other errors (a wrong type, a script error) are bugs.
# On a cluster: no node reachable, a slot without a primary (mid-failover), the cluster down.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, redis.OutOfMemoryError,
               redis.exceptions.ClusterError, redis.exceptions.SlotNotCoveredError, MovedError, AskError)
# The same, reported as plain error replies: persistence failing, a script or load running,
# a replica without its primary, a cluster resharding.
UNAVAILABLE_REPLIES = ("MISCONF", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")
# The cluster client's own errors when it cannot find a node to ask (its other errors, such as
# keys of one command in several slots, are bugs).
UNAVAILABLE_CLUSTER = ("Redis Cluster cannot be connected", "All slots are not covered", "startup_nodes could not agree",
                       "No targets were found", "Cluster Node")


CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme: TLS


class ConnectionFactory(DefaultConnectionFactory):
    """django-redis's factory, plus Redis Cluster for ``redis+cluster://`` (or
    ``rediss+cluster://``) locations: ``[user:password@]host:port,host:port,...``, any node of
    the cluster (the client discovers the rest, and keeps the list to bootstrap from if one of
    them is down). The socket options of ``CACHES[...]['OPTIONS']`` apply to every node."""

    _clusters: dict[str, RedisCluster] = {}

    def connect(self, url: str):
        scheme = url.partition("://")[0]
        if scheme not in CLUSTER_SCHEMES:
            return super().connect(url)
        if url not in self._clusters:
            self._clusters[url] = self._cluster(url, tls=CLUSTER_SCHEMES[scheme])
        return self._clusters[url]

    def disconnect(self, connection) -> None:
        if isinstance(connection, RedisCluster):
            connection.close()
        else:
            super().disconnect(connection)

    def _cluster(self, url: str, *, tls: bool) -> RedisCluster:
        parts = urlsplit(url)
        credentials, _, hosts = parts.netloc.rpartition("@")
        username, _, password = credentials.partition(":")
        nodes = []
        for address in hosts.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ImproperlyConfigured(f"{parts.scheme}:// wants host:port,host:port; got {address!r}")
            nodes.append(ClusterNode(host.strip("[]"), int(port)))
        params = self.make_connection_params(url)
        return RedisCluster(
            startup_nodes=nodes,
            username=unquote(username) or params.get("username"),
            password=unquote(password) or params.get("password"),
            ssl=tls,
            socket_timeout=params.get("socket_timeout"),
            socket_connect_timeout=params.get("socket_connect_timeout"),
            # One more attempt after a connection error, on a refreshed slot map: the one that
            # finds a promoted replica after a failover. Longer outages are the breaker's.
            retry=Retry(NoBackoff(), 1),
        )


def _unavailable(error: Exception) -> bool:
    if isinstance(error, UNAVAILABLE):
        return True
    if isinstance(error, RedisClusterException):
        return str(error).startswith(UNAVAILABLE_CLUSTER)
    return isinstance(error, redis.ResponseError) and str(error).startswith(UNAVAILABLE_REPLIES)


class CacheUnavailable(Exception):
    """Redis could not be reached in time, or the breaker is open; serve without the cache."""


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
_lock = threading.Lock()
_scripts: dict[str, redis.commands.core.Script] = {}


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


def script(name: str) -> redis.commands.core.Script:
    """A registered Lua script from ``caching.scripts`` (EVALSHA, reloaded on NOSCRIPT)."""
    found = _scripts.get(name)
    if found is None:
        with _lock:
            found = _scripts.setdefault(name, connection().register_script(getattr(scripts, name)))
    return found


def run_script(r, name: str, keys: list[str], args: list) -> object:
    """EVALSHA straight on a pooled connection: the hit path's one round trip without
    redis-py's per-command wrappers (retry and metrics bookkeeping, about a tenth of a hit).
    On a cluster, through the client, which routes by the keys' (shared) slot."""
    found = script(name)
    if is_cluster(r):
        try:
            return r.evalsha(found.sha, len(keys), *keys, *args)
        except NoScriptError:
            load_scripts(r)
            return r.evalsha(found.sha, len(keys), *keys, *args)
    pool = r.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command("EVALSHA", found.sha, len(keys), *keys, *args)
        try:
            return conn.read_response()
        except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts
            conn.send_command("SCRIPT", "LOAD", found.script)
            conn.read_response()
            conn.send_command("EVALSHA", found.sha, len(keys), *keys, *args)
            return conn.read_response()
    except (redis.ConnectionError, redis.TimeoutError):
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def pipelined(r, queue: Callable[[Any], None]) -> list:
    """The commands ``queue(pipe)`` adds, sent in one round trip (on a cluster: one per node,
    in parallel). ``pipe.evalsha`` may be used for the scripts: after a NOSCRIPT reply they are
    loaded and the whole pipeline runs again, so what it queues must be safe to repeat."""
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


def run_durably(r, commands: list[tuple[str, tuple]], *, replica_ack_ms: int) -> None:
    """Run ``commands`` (``(key, command args)``, each command on one slot's keys) so that they
    survive a failover: on a single Redis, one pipeline; on a cluster, one pipeline per primary
    ending in ``WAIT 1 replica_ack_ms``. Replication is asynchronous: without the WAIT a
    primary could acknowledge an invalidation and die before its replica had it, and the
    promoted replica would serve what the write removed. No acknowledgement in time raises (the
    caller keeps the work for replay) unless the primary has no replica that could be promoted.
    After an error the slot map is refreshed and the whole (idempotent) work is tried once more:
    that is what reaches a newly promoted replica.
    """
    if not is_cluster(r):
        pipelined(r, lambda pipe: [pipe.execute_command(*args) for _, args in commands])
        return
    for attempt in (1, 2):
        try:
            for node, batch in _by_primary(r, commands):
                _run_on(r.get_redis_connection(node), node.name, batch, replica_ack_ms)
            return
        except (redis.ConnectionError, redis.TimeoutError, MovedError, AskError):
            r.nodes_manager.initialize()
            if attempt == 2:
                raise


def _by_primary(r: RedisCluster, commands: list[tuple[str, tuple]]) -> list[tuple[ClusterNode, list[tuple]]]:
    nodes: dict[str, ClusterNode] = {}
    batches: dict[str, list[tuple]] = {}
    for key, args in commands:
        node = r.nodes_manager.get_node_from_slot(key_slot_of(key))
        nodes[node.name] = node
        batches.setdefault(node.name, []).append(args)
    return [(nodes[name], batch) for name, batch in batches.items()]


NO_REPLICA_RECHECK_S = 5.0
_without_replicas: dict[str, float] = {}  # primary -> until when it is known to have no replica


def _run_on(conn: redis.Redis, name: str, batch: list[tuple], replica_ack_ms: int) -> None:
    wait = _without_replicas.get(name, 0.0) < time.monotonic()

    def queue(pipe) -> None:
        for args in batch:
            pipe.execute_command(*args)
        if wait:
            pipe.execute_command("WAIT", 1, replica_ack_ms)

    results = pipelined(conn, queue)
    if wait and results[-1] < 1:
        if replicas(conn):
            raise redis.TimeoutError(f"no replica of {name} acknowledged within {replica_ack_ms} ms")
        _without_replicas[name] = time.monotonic() + NO_REPLICA_RECHECK_S  # none to wait for


def replicas(conn: redis.Redis) -> int:
    """How many replicas of this primary the cluster could still promote (not marked failed)."""
    nodes = conn.execute_command("CLUSTER NODES").values()  # parsed by redis-py
    me = next(node["node_id"] for node in nodes if "myself" in node["flags"].split(","))
    return sum(1 for node in nodes if node["master_id"] == me and "fail" not in node["flags"].split(","))


def call(operation: Callable[[redis.Redis], T], *, through_open_breaker: bool = False) -> T:
    """Run ``operation`` on the client under the failure policy above. ``through_open_breaker``
    tries Redis even while the breaker is open (a write's invalidation: see ``outbox.deliver``)."""
    if not breaker.allow() and not through_open_breaker:
        raise CacheUnavailable("circuit breaker open")
    try:
        result = operation(connection())
    except (redis.RedisError, RedisClusterException) as error:
        if _unavailable(error):
            breaker.failed(error)
            raise CacheUnavailable(str(error)) from error
        breaker.succeeded()  # Redis answered; the error is ours
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
        _scripts.clear()


setting_changed.connect(_reset, dispatch_uid="caching.client.reset")
