"""A cache-aside read with its lease (docs/reads.md, "Leases and stampede control"): a hit is
one round trip; a miss takes the key's lease, loads, and stores only if no invalidation revoked
it (``None`` from a loader is not cached). A value due for its early refresh (XFetch) or past
its TTL is reloaded under its refresh lease, and served ``STALE`` if the database fails
(docs/reads.md, "Early refresh and stale entries"). May the cache be used at all:
``get_or_load``."""

import itertools
import math
import os
import random
import secrets
import time
from typing import Any

from caching.core import keys, rules
from caching.core.backoff import polls
from caching.core.entry import BYPASS, HIT, MISS, STALE, Entry, Loader, Result
from caching.core.keys import CacheKey
from caching.core.options import Options, options
from caching.core.state import STATE
from caching.database.guard import DatabaseUnavailableError
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


def draw(beta: float) -> float:
    """One read's XFetch draw, ``1 - beta * ln(random)``: a value is due for its early refresh
    when ``now + reload time * draw`` reaches the end of its TTL (docs/reads.md, "Early
    refresh"): XFetch's rule, one reload earlier, so that the reload ends before the TTL does.
    0 with ``beta`` 0: never early."""
    return 1.0 - beta * math.log(1.0 - random.random()) if beta else 0.0


def due(entry: Entry, early: float) -> bool:
    return time.time() * 1000 + entry.load_ms * early >= entry.fresh_until


def read(key: CacheKey, loader: Loader, *, trusted_since: float) -> Result | None:
    """Read ``key`` from this process's near cache, else through Redis, loading on a miss;
    ``BYPASS`` when Redis cannot be asked. ``None``: a reason to doubt the cache appeared since
    ``trusted_since`` (the last outbox check); the caller checks the outbox again first."""
    opts = options()
    namespace = rules.require(key.namespace)
    physical = keys.physical(key)
    counter = keys.generation(namespace.name) if namespace.generational else None
    early = draw(opts.early_refresh_beta)
    near = tier.tier()
    reservation = source = None
    if near is not None:
        near.ready()
        if doubted_since(trusted_since):
            return None
        tracker = near.tracker_for(physical)  # its primary's, now
        if tracker is not None:  # every later invalidation of the key reaches this process
            held = tracker.trusted and near.cache.get(physical, counter, tracker.generation)
            if held and not due(held, early):
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
        repr(early),
        keys.REFRESH_SUFFIX,
    ]

    def run(r: Client) -> tuple[Any, bool]:
        # A value that may be kept near comes from its primary's own connection; any other
        # through the client, which also learns a new slot map from a failed node.
        if reservation is None:
            return run_script(r, "READ", read_keys, args), False
        return run_on_owner(r, "READ", read_keys, args)

    began = time.perf_counter()  # a reload's time, as XFetch weighs it, runs from here
    try:
        reply, from_owner = call(run, key=physical)
    except CacheUnavailableError:
        return Result(loader(), BYPASS)
    code, payload, held_raw = reply[0], reply[1], (reply[2] if len(reply) > 2 else None)
    if code == ReadReply.HIT:
        entry = Entry.stored(payload)
        if near is not None and reservation is not None and from_owner:
            # Kept only if the value came from the same tracker's primary: no failover, no
            # slot moved, no lapse since the reservation; and not past its TTL.
            tracker = near.tracker_for(physical)
            if tracker is not None and tracker.generation == source:
                ttl = min(entry.fresh_until / 1000 - time.time(), opts.near_ttl)
                near.cache.fill(physical, reservation, entry, len(payload), ttl, counter, source)
        return Result(entry, HIT)
    leased = payload.decode()  # the key as Redis names it (a list's: with its generation)
    held = None if held_raw is None else Entry.stored(held_raw)
    try:
        if code == ReadReply.FULL:  # no lease: nothing to store and nobody to wait for
            return Result(loader(), MISS)
        if code == ReadReply.LEASED:
            return Result(load_and_store(key, leased, lease, loader, began=began)[0], MISS)
        if code in (ReadReply.REFRESH, ReadReply.LEASED_STALE):
            refresh = keys.refresh_lease(leased)
            loaded = load_and_store(key, leased, lease, loader, lease_key=refresh, began=began)
            return Result(loaded[0], MISS)
        waited = wait_for(leased, lease, opts, held_raw)  # WAIT, WAIT_STALE
        if waited is CLAIMED:
            return Result(load_and_store(key, leased, lease, loader)[0], MISS)
        if isinstance(waited, Entry):
            return Result(waited, MISS)
        return Result(_load(key, loader), MISS)
    except DatabaseUnavailableError:
        refresh = code == ReadReply.REFRESH  # still fresh: served as the miss it was counted
        if held_raw is None or held is None or not _still_held(key, leased, held_raw, refresh):
            raise  # nothing held, or a write invalidated it since (SPEC 8.9)
        if refresh:
            return Result(held, MISS)
        stored_at = held.fresh_until / 1000 - options().ttl(key.namespace)
        return Result(held, STALE, age=max(0, math.ceil(time.time() - stored_at)))


def _still_held(key: CacheKey, name: str, held_raw: bytes, fresh: bool) -> bool:
    """Does Redis still hold ``held_raw`` at ``name``, in its list's current generation (no
    invalidation since it was read)? Counted as a stale answer if it does and is not ``fresh``."""
    namespace = rules.require(key.namespace)
    script_keys = [name, keys.stats_of(key)]
    generation = ""
    if namespace.generational:
        script_keys.append(keys.generation(namespace.name))
        generation = name.rpartition(keys.GENERATION_SEPARATOR)[2]
    args = [held_raw, generation, "" if fresh else "stale"]
    try:
        return bool(call(lambda r: run_script(r, "HELD", script_keys, args), key=name))
    except CacheUnavailableError:
        return False


def _load(key: CacheKey, loader: Loader) -> Entry | None:
    """A database load that will not be stored (the lease holder took too long)."""
    value = loader()
    try:
        call(lambda r: r.hincrby(keys.stats_of(key), "loads", 1), key=keys.stats_of(key))
    except CacheUnavailableError:
        pass  # a lost count (Redis down or full), not a lost value
    return value


def load_and_store(
    key: CacheKey,
    physical: str,
    lease: str,
    loader: Loader,
    *,
    lease_key: str | None = None,
    began: float | None = None,
) -> tuple[Entry | None, bool]:
    """Load under ``lease`` (held at ``lease_key``: the value's own key unless given); store the
    value (for ``EMPTY_TTL`` if it is ``empty``) if the lease survived, else give the lease up.
    The value keeps how long it took since ``began`` (the read), or the load. Returns the value
    loaded and whether it was stored."""
    lease_key = lease_key or physical
    began = time.perf_counter() if began is None else began
    try:
        value = loader()
    except BaseException:
        _finish(key, physical, lease_key, lease, None)
        raise
    if value is None:
        _finish(key, physical, lease_key, lease, None)
        return None, False
    load_ms = max(1, round((time.perf_counter() - began) * 1000))
    opts = options()
    data, ttl = value.encode(), opts.ttl(key.namespace, empty=value.empty)
    # An empty page is kept no longer than EMPTY_TTL, stale window included (a flood's bound).
    stale = 0 if value.empty else opts.stale_if_error
    stored = ttl > 0 and _finish(key, physical, lease_key, lease, [data, ttl, stale, load_ms])
    return Entry.decode(data), stored


def _finish(
    key: CacheKey, physical: str, lease_key: str, lease: str, stored: list[Any] | None
) -> bool:
    """STORE ``stored`` (value, TTL, seconds kept past it, load ms) under the lease; with nothing
    to store, RELEASE it. Whether a value was stored."""
    name, script_keys = "RELEASE", [lease_key, keys.stats_of(key)]
    if stored is not None:
        name, script_keys = "STORE", [physical, keys.stats_of(key), lease_key]
    try:
        reply = call(
            lambda r: run_script(r, name, script_keys, [lease, *(stored or [])]), key=physical
        )
    except CacheUnavailableError:
        return False  # served from the database; the lease expires by itself after LEASE_MS
    return stored is not None and reply == StoreReply.STORED


def wait_for(
    physical: str, lease: str, opts: Options, held: bytes | None = None
) -> Entry | _Claimed | None:
    """Wait for the value another caller is loading (to replace ``held``, the value past its
    TTL, if given), up to ``LEASE_WAIT_MS``. Returns the value; ``CLAIMED`` if the key went
    away and this caller took its lease in its place; ``None`` if the time ran out or Redis
    refuses (load, store nothing)."""
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
        if isinstance(raw, bytes) and raw and not is_lease(raw) and raw != held:
            return Entry.stored(raw)
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
