"""The Redis boundary: the only module that holds a Redis client, and the one failure policy.

django-redis owns the connection pool (``CACHES['default']``, short connect and socket
timeouts, no retries). Every call from the service goes through ``call()``:

- an ``UNAVAILABLE`` error becomes ``CacheUnavailable``, which callers turn into a database
  read (``X-Cache: BYPASS``) or an outbox entry; other Redis errors are bugs and propagate;
- a circuit breaker: after ``BREAKER_FAILURES`` failures in a row it opens and calls fail at
  once, without touching Redis, for ``BREAKER_COOLDOWN_MS``; then one call probes (half-open):
  success closes it, failure opens it again;
- each degradation and each recovery is logged once per process, not per request.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from django.core.signals import setting_changed
from django_redis import get_redis_connection

from caching import metrics, scripts
from caching.conf import options

log = logging.getLogger("caching")
T = TypeVar("T")

# Redis cannot serve: unreachable, too slow, a replica promoted no more (read-only), or out of
# memory under a noeviction policy. Other errors (a wrong type, a script error) are bugs.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, redis.OutOfMemoryError)
# The same, reported as plain error replies: persistence failing, a script or load running,
# a replica without its primary, a cluster resharding.
UNAVAILABLE_REPLIES = ("MISCONF", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


def _unavailable(error: Exception) -> bool:
    if isinstance(error, UNAVAILABLE):
        return True
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


def connection() -> redis.Redis:
    """The process's client (django-redis's pool for ``CACHES['default']``), looked up once."""
    global _client
    if _client is None:
        _client = get_redis_connection("default")
    return _client


def script(name: str) -> redis.commands.core.Script:
    """A registered Lua script from ``caching.scripts`` (EVALSHA, reloaded on NOSCRIPT)."""
    found = _scripts.get(name)
    if found is None:
        with _lock:
            found = _scripts.setdefault(name, connection().register_script(getattr(scripts, name)))
    return found


def run_script(r: redis.Redis, name: str, keys: list[str], args: list) -> object:
    """EVALSHA straight on a pooled connection: the hit path's one round trip without
    redis-py's per-command wrappers (retry and metrics bookkeeping, about a tenth of a hit)."""
    found = script(name)
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


def call(operation: Callable[[redis.Redis], T]) -> T:
    """Run ``operation`` on the client under the failure policy above."""
    if not breaker.allow():
        raise CacheUnavailable("circuit breaker open")
    try:
        result = operation(connection())
    except redis.RedisError as error:
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
