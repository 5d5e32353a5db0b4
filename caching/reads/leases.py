"""A cache-aside read with its lease (docs/reads.md, "Leases and stampede control"): a hit is
one round trip; a miss takes the key's lease, loads, and stores only if no invalidation revoked
it (``None`` from a loader is not cached). May the cache be used at all: ``get_or_load``."""

import itertools
import os
import secrets
from typing import Any

from caching.core import keys, rules
from caching.core.backoff import polls
from caching.core.entry import BYPASS, HIT, MISS, Entry, Loader, Result
from caching.core.keys import CacheKey
from caching.core.options import Options, options
from caching.core.state import STATE
from caching.near import tier
from caching.redis.cluster import run_on_owner
from caching.redis.connection import Client
from caching.redis.policy import CacheUnavailableError, call, doubted_since
from caching.redis.scripts import ReadReply, StoreReply, run_script

# A lease, under the value's own key, starts with this mark: JSON never starts with a NUL.
LEASE_MARK = "\0lease:"
LEASE_MARK_BYTES = LEASE_MARK.encode()


class _Seed:
    """A lease prefix no other process has, and the counter after it."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.base = LEASE_MARK + secrets.token_hex(8) + ":"
        self.numbers = itertools.count()


SEED = _Seed()
STATE.on_reset(SEED.reset)
os.register_at_fork(after_in_child=SEED.reset)  # the parent's would be shared


class _Claimed:
    """``wait_for``'s answer when this caller took over the lease."""


CLAIMED = _Claimed()


def is_lease(raw: bytes) -> bool:
    return raw.startswith(LEASE_MARK_BYTES)


def new_lease() -> str:
    """A token no other lease holder has: this process's random base and a counter (no
    system call on the hit path, which claims a lease only on a miss but needs one ready)."""
    return f"{SEED.base}{next(SEED.numbers)}"


def read(key: CacheKey, loader: Loader, *, trusted_since: float) -> Result | None:
    """Read ``key`` from this process's near cache, else through Redis, loading on a miss;
    ``BYPASS`` when Redis cannot be asked. ``None``: a reason to doubt the cache appeared since
    ``trusted_since`` (the last outbox check); the caller checks the outbox again first."""
    opts = options()
    namespace = rules.require(key.namespace)
    physical = keys.physical(key)
    counter = keys.generation(namespace.name) if namespace.generational else None
    near = tier.tier()
    reservation = source = None
    if near is not None:
        near.ready()
        if doubted_since(trusted_since):
            return None
        tracker = near.tracker_for(physical)  # its primary's, now
        if tracker is not None:  # every later invalidation of the key reaches this process
            held = tracker.trusted and near.cache.get(physical, counter, tracker.generation)
            if held:
                near.counts.add(key)
                return Result(held, HIT)
            source = tracker.generation
            reservation = near.cache.reserve(physical, counter)
    lease = new_lease()
    read_keys = [keys.stats_of(key), physical]
    if counter is not None:
        read_keys.append(counter)
    args = [
        lease,
        opts.lease_ms,
        keys.GENERATION_SEPARATOR,
        keys.history_prefix(key.namespace, key.shard),
        keys.HISTORY_SECONDS,
    ]

    def run(r: Client) -> tuple[Any, bool]:
        # A value that may be kept near comes from its primary's own connection; any other
        # through the client, which also learns a new slot map from a failed node.
        if reservation is None:
            return run_script(r, "READ", read_keys, args), False
        return run_on_owner(r, "READ", read_keys, args)

    try:
        (code, payload), from_owner = call(run, key=physical)
    except CacheUnavailableError:
        return Result(loader(), BYPASS)
    if code == ReadReply.HIT:
        entry = Entry.decode(payload)
        if near is not None and reservation is not None and from_owner:
            # Kept only if the value came from the same tracker's primary: no failover, no
            # slot moved, no lapse since the reservation.
            tracker = near.tracker_for(physical)
            if tracker is not None and tracker.generation == source:
                ttl = min(opts.ttl(key.namespace), opts.near_ttl)
                near.cache.fill(physical, reservation, entry, len(payload), ttl, counter, source)
        return Result(entry, HIT)
    if code == ReadReply.FULL:  # no lease: nothing to store and nobody to wait for
        return Result(loader(), MISS)
    leased = payload.decode()  # the key as Redis names it (a list's: with its generation)
    if code == ReadReply.LEASED:
        return Result(load_and_store(key, leased, lease, loader)[0], MISS)
    waited = wait_for(leased, lease, opts)  # ReadReply.WAIT
    if waited is CLAIMED:
        return Result(load_and_store(key, leased, lease, loader)[0], MISS)
    if isinstance(waited, Entry):
        return Result(waited, MISS)
    return Result(_load(key, loader), MISS)


def _load(key: CacheKey, loader: Loader) -> Entry | None:
    """A database load that will not be stored (the lease holder took too long)."""
    value = loader()
    try:
        call(lambda r: r.hincrby(keys.stats_of(key), "loads", 1), key=keys.stats_of(key))
    except CacheUnavailableError:
        pass  # a lost count (Redis down or full), not a lost value
    return value


def load_and_store(
    key: CacheKey, physical: str, lease: str, loader: Loader
) -> tuple[Entry | None, bool]:
    """Load under ``lease``; store the value (for ``EMPTY_TTL`` if it is ``empty``) if the
    lease survived, else give the lease up. Returns the value loaded and whether it was stored."""
    try:
        value = loader()
    except BaseException:
        _finish(key, physical, lease, None, 0)
        raise
    if value is None:
        _finish(key, physical, lease, None, 0)
        return None, False
    data, ttl = value.encode(), options().ttl(key.namespace, empty=value.empty)
    stored = _finish(key, physical, lease, data if ttl > 0 else None, ttl)
    return Entry.decode(data), stored


def _finish(key: CacheKey, physical: str, lease: str, data: bytes | None, ttl: int) -> bool:
    """STORE (or, with nothing to store, RELEASE) under the lease; whether a value was stored."""
    name, args = ("RELEASE", [lease]) if data is None else ("STORE", [lease, data, ttl])
    try:
        reply = call(
            lambda r: run_script(r, name, [physical, keys.stats_of(key)], args), key=physical
        )
    except CacheUnavailableError:
        return False  # served from the database; the lease expires by itself after LEASE_MS
    return data is not None and reply == StoreReply.STORED


def wait_for(physical: str, lease: str, opts: Options) -> Entry | _Claimed | None:
    """Wait for the value another caller is loading, up to ``LEASE_WAIT_MS``. Returns the value;
    ``CLAIMED`` if the other lease went away and this caller took the key's lease in its place;
    ``None`` if the time ran out or Redis refuses (load, store nothing)."""
    for _ in polls(opts.lease_wait_ms / 1000):
        try:
            raw = call(
                lambda r: (
                    r.get(physical)
                    or (r.set(physical, lease, nx=True, px=opts.lease_ms) and CLAIMED)
                ),
                key=physical,
            )
        except CacheUnavailableError:
            return None
        if raw is CLAIMED:
            return CLAIMED
        # The client returns bytes (no decode_responses); redis-py's get() is typed bytes | str.
        if isinstance(raw, bytes) and raw and not is_lease(raw):
            return Entry.decode(raw)
    return None


def prime(key: CacheKey, loader: Loader) -> bool:
    """Write-through (docs/writes.md): fill ``key`` from a load under its lease; whether stored."""
    opts = options()
    if not opts.enabled or rules.require(key.namespace).generational:
        return False
    physical, lease = keys.physical(key), new_lease()
    try:
        claimed = call(lambda r: r.set(physical, lease, nx=True, px=opts.lease_ms), key=physical)
    except CacheUnavailableError:
        return False
    if not claimed:
        return False
    return load_and_store(key, physical, lease, loader)[1]
