"""The caching app's options, read from ``settings.CACHE_LAYER``.

Keys (all optional):

- ``ENABLED`` (``True``): ``False`` sends every read to the database and answers ``BYPASS``.
- ``KEY_PREFIX`` (``""``): first segment of every physical key, so several deployments or test
  runs can share one Redis; no ``{`` or ``}`` (they would change the keys' hash tags).
- ``DEFAULT_TTL`` (``600``): seconds, for namespaces without an entry in ``TTLS``.
- ``TTLS`` (``{}``): seconds per namespace.
- ``EMPTY_TTL`` (``5``): seconds an entry its loader marked ``empty`` is kept (at most its
  namespace's TTL; ``0``: not stored): a filtered page that matches nothing. Short, so that a
  flood of distinct never-matching filters costs Redis at most its rate times this, while a hot
  one keeps its stampede control (the lease).
- ``LEASE_MS`` (``2000``): how long a reader that missed may take to load and store a value
  (an orphaned lease, its holder killed, delays that key's readers at most this long).
- ``LEASE_WAIT_MS`` (``1000``): how long a reader that finds another's lease waits for the value
  before it reads the database itself (and stores nothing).
- ``BREAKER_FAILURES`` (``3``): Redis failures in a row that open the circuit breaker.
- ``BREAKER_COOLDOWN_MS`` (``2000``): how long the breaker stays open before one probe.
- ``OUTBOX_CHECK_AFTER_MS`` (``1000``): a process that has not reached Redis for this long checks
  the outbox (one query) before it trusts the cache again.
- ``NEAR_ENABLED`` (``True``; off on a Redis Cluster): keep hot entries in each process too,
  dropped by Redis's invalidation pushes (``caching.store.near_reads``); a hit then needs no
  round trip.
- ``NEAR_MAX_ENTRIES`` (``10000``), ``NEAR_MAX_BYTES`` (``64 MiB``): the near cache's bound per
  process (least recently used out first).
- ``NEAR_TTL`` (``300``): seconds a process keeps an entry at most (and never longer than its
  namespace's TTL).
- ``REPLICA_ACK_MS`` (``100``): on a Redis Cluster, how long a write's invalidation waits for a
  replica of each primary it touched to acknowledge it (``WAIT``); without that it stays in the
  outbox. Keep it below the socket timeout (``CACHE_REDIS_TIMEOUT_MS``).
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from caching.state import STATE

_DEFAULTS = {
    "ENABLED": True,
    "KEY_PREFIX": "",
    "DEFAULT_TTL": 600,
    "TTLS": {},
    "EMPTY_TTL": 5,
    "LEASE_MS": 2000,
    "LEASE_WAIT_MS": 1000,
    "BREAKER_FAILURES": 3,
    "BREAKER_COOLDOWN_MS": 2000,
    "OUTBOX_CHECK_AFTER_MS": 1000,
    "REPLICA_ACK_MS": 100,
    "NEAR_ENABLED": True,
    "NEAR_MAX_ENTRIES": 10_000,
    "NEAR_MAX_BYTES": 64 * 2**20,
    "NEAR_TTL": 300,
}


@dataclass(frozen=True)
class Options:
    enabled: bool
    key_prefix: str
    default_ttl: int
    ttls: dict[str, int] = field(default_factory=dict)
    empty_ttl: int = 5
    lease_ms: int = 2000
    lease_wait_ms: int = 1000
    breaker_failures: int = 3
    breaker_cooldown_ms: int = 2000
    outbox_check_after_ms: int = 1000
    replica_ack_ms: int = 100
    near_enabled: bool = True
    near_max_entries: int = 10_000
    near_max_bytes: int = 64 * 2**20
    near_ttl: int = 300

    def ttl(self, namespace: str, *, empty: bool = False) -> int:
        """Seconds to keep an entry of ``namespace`` (an ``empty`` one: ``EMPTY_TTL`` at most)."""
        ttl = self.ttls.get(namespace, self.default_ttl)
        return min(ttl, self.empty_ttl) if empty else ttl


def options() -> Options:
    """The current options, read once per process (again after ``STATE.reset()``, which a
    change of ``CACHE_LAYER`` in a test triggers)."""
    if STATE.options is None:
        raw = {**_DEFAULTS, **getattr(settings, "CACHE_LAYER", {})}
        if set(str(raw["KEY_PREFIX"])) & set("{}"):
            raise ImproperlyConfigured(
                "CACHE_LAYER['KEY_PREFIX'] may not contain { or }: "
                "they would change every key's hash tag"
            )
        STATE.options = Options(
            enabled=bool(raw["ENABLED"]),
            key_prefix=str(raw["KEY_PREFIX"]),
            default_ttl=int(raw["DEFAULT_TTL"]),
            ttls={str(k): int(v) for k, v in raw["TTLS"].items()},
            empty_ttl=max(int(raw["EMPTY_TTL"]), 0),
            lease_ms=int(raw["LEASE_MS"]),
            lease_wait_ms=int(raw["LEASE_WAIT_MS"]),
            breaker_failures=int(raw["BREAKER_FAILURES"]),
            breaker_cooldown_ms=int(raw["BREAKER_COOLDOWN_MS"]),
            outbox_check_after_ms=int(raw["OUTBOX_CHECK_AFTER_MS"]),
            replica_ack_ms=int(raw["REPLICA_ACK_MS"]),
            near_enabled=bool(raw["NEAR_ENABLED"]),
            near_max_entries=max(int(raw["NEAR_MAX_ENTRIES"]), 0),
            near_max_bytes=max(int(raw["NEAR_MAX_BYTES"]), 0),
            near_ttl=max(int(raw["NEAR_TTL"]), 0),
        )
    return STATE.options
