"""The Redis boundary: the only module that holds a Redis client.

django-redis owns the connection pool (``CACHES['default']``); this module adds the Lua scripts
and the failure policy. Every call from the service goes through ``call()``, which turns a Redis
connection or timeout error into ``CacheUnavailable`` and logs each change of state once.
"""

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import redis
from django_redis import get_redis_connection

from caching import scripts

log = logging.getLogger("caching")
T = TypeVar("T")


class CacheUnavailable(Exception):
    """Redis could not be reached in time; the caller serves without the cache."""


_lock = threading.Lock()
_scripts: dict[str, redis.commands.core.Script] = {}
_healthy = True


def connection() -> redis.Redis:
    return get_redis_connection("default")


def script(name: str) -> redis.commands.core.Script:
    """A registered Lua script from ``caching.scripts`` (EVALSHA, reloaded on NOSCRIPT)."""
    found = _scripts.get(name)
    if found is None:
        with _lock:
            found = _scripts.setdefault(name, connection().register_script(getattr(scripts, name)))
    return found


def _set_health(healthy: bool, error: Exception | None = None) -> None:
    global _healthy
    if healthy == _healthy:
        return
    _healthy = healthy
    if healthy:
        log.warning("cache recovered: Redis answers again")
    else:
        log.error("cache degraded: Redis unavailable (%s); serving from the database", error)


# Redis cannot serve: unreachable, too slow, a replica promoted no more (read-only), or out of
# memory under a noeviction policy. Other errors (a wrong type, a script error) are bugs.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, redis.OutOfMemoryError)


def call(operation: Callable[[redis.Redis], T]) -> T:
    """Run ``operation`` on the client; an ``UNAVAILABLE`` error becomes CacheUnavailable."""
    try:
        result = operation(connection())
    except UNAVAILABLE as error:
        _set_health(False, error)
        raise CacheUnavailable(str(error)) from error
    _set_health(True)
    return result
