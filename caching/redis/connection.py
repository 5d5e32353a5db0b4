"""The process's Redis client, and django-redis's connection factory, which also builds a
``RedisCluster`` for a ``redis+cluster://`` location (docs/cluster.md)."""

import functools
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_redis import get_redis_connection
from django_redis.pool import ConnectionFactory as DefaultConnectionFactory
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from caching.core.state import STATE

Client = redis.Redis | RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme: TLS


class ConnectionFactory(DefaultConnectionFactory):  # type: ignore[misc]  # django_redis: untyped
    """For a cluster location: one ``RedisCluster`` per location, with the connect and socket
    timeouts of ``OPTIONS`` on every node. Other locations: django-redis's own pools."""

    _clusters: dict[str, RedisCluster] = {}

    def connect(self, url: str) -> Any:
        scheme = url.partition("://")[0]
        if scheme not in CLUSTER_SCHEMES:
            return super().connect(url)
        if url not in self._clusters:
            self._clusters[url] = self._cluster(url, tls=CLUSTER_SCHEMES[scheme])
        return self._clusters[url]

    def disconnect(self, connection: Any) -> None:
        if isinstance(connection, RedisCluster):
            connection.close()
        else:
            super().disconnect(connection)

    def _cluster(self, url: str, *, tls: bool) -> RedisCluster:
        parts = urlsplit(url)
        if parts.path.strip("/") or parts.query:
            raise ImproperlyConfigured(f"{parts.scheme}:// takes no database or options: {url!r}")
        credentials, _, hosts = parts.netloc.rpartition("@")
        username, _, password = credentials.partition(":")
        nodes: list[ClusterNode] = []
        for address in hosts.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ImproperlyConfigured(
                    f"{parts.scheme}:// wants host:port,host:port; got {address!r}"
                )
            nodes.append(ClusterNode(host.strip("[]"), int(port)))  # type: ignore[no-untyped-call]
        params = self.make_connection_params(url)
        return RedisCluster(
            startup_nodes=nodes,
            username=unquote(username) or params.get("username"),
            password=unquote(password) or params.get("password"),
            ssl=tls,
            socket_timeout=params.get("socket_timeout"),
            socket_connect_timeout=params.get("socket_connect_timeout"),
            # No retries, as for one Redis: a failing call costs at most the timeout (and the
            # client refreshes its slot map for the next one); the breaker handles the rest.
            retry=Retry(NoBackoff(), 0),
        )


@functools.cache
def client() -> Client:
    """The process's client for ``CACHES['default']``, looked up once."""
    connected: Client = get_redis_connection("default")  # django_redis: untyped
    return connected


STATE.on_reset(client.cache_clear)


def built() -> Client | None:
    """The process's client if it was built already (building one may take the timeout per
    node while a cluster cannot be reached: only ``call`` does that)."""
    return client() if client.cache_info().currsize else None


def timeout_s() -> float:
    """The shorter of the connect and socket timeouts of ``CACHES['default']`` (1 s if unset),
    known even when no client can be built."""
    given: dict[str, Any] = settings.CACHES["default"].get("OPTIONS", {})  # type: ignore[assignment]
    found = [t for t in (given.get("SOCKET_TIMEOUT"), given.get("SOCKET_CONNECT_TIMEOUT")) if t]
    return float(min(found)) if found else 1.0


def is_cluster(r: Client) -> bool:
    return isinstance(r, RedisCluster)
