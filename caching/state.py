"""Everything the cache layer keeps per process, in one object with one ``reset()``.

Each field belongs to one module, which reads and writes it here (named beside the field);
nothing else does. ``reset()`` forgets it all, as a new process would: a test calls it, and a
test that changes ``CACHES`` or ``CACHE_LAYER`` gets it for free (``setting_changed``). A
forked child (gunicorn ``--preload``) keeps the parent's state but draws a lease seed of its
own.
"""

from __future__ import annotations

import itertools
import os
import secrets
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed

if TYPE_CHECKING:
    from caching.backend.connection import Client
    from caching.backend.policy import Breaker
    from caching.conf import Options
    from caching.store.near_reads import NearTier

# Leases are stored under the value's own key and start with this mark (caching.backend.scripts
# tells a lease from a value by its first byte: JSON never starts with a NUL).
LEASE_MARK = "\0lease:"


class ProcessState:
    options: Options | None  # caching.conf: CACHE_LAYER, read once
    client: Client | None  # caching.backend.connection: the Redis or RedisCluster client
    breaker: Breaker | None  # caching.backend.policy: made on first use
    primaries: dict[str, Any]  # caching.backend.replication: what is known of each primary
    trusted_at: float  # caching.service: monotonic time of the last clean outbox check; 0: never
    near: NearTier | None  # caching.store.near_reads: the near cache and its tracking
    lease_base: str  # caching.store.leases: this process's random lease prefix
    lease_numbers: itertools.count[int]  # caching.store.leases: the counter after it

    def __init__(self) -> None:
        self.near = None
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next call reads the settings, connects and checks anew."""
        if self.near is not None:
            self.near.close()
        self.near = None
        self.options = None
        self.client = None
        self.breaker = None
        self.primaries = {}
        self.trusted_at = 0.0
        self.reseed()

    def reseed(self) -> None:
        """A lease prefix no other process has (after a fork the parent's would be shared)."""
        self.lease_base = LEASE_MARK + secrets.token_hex(8) + ":"
        self.lease_numbers = itertools.count()


STATE = ProcessState()


def _forked() -> None:
    """In a child: its own lease seed, and no near cache (the parent's tracking connection and
    hit-count thread are not the child's)."""
    STATE.reseed()
    if STATE.near is not None:
        STATE.near.abandon()
    STATE.near = None


os.register_at_fork(after_in_child=_forked)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("CACHES", "CACHE_LAYER"):
        STATE.reset()


setting_changed.connect(_settings_changed, dispatch_uid="caching.state.reset")
