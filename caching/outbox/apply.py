"""A write's invalidation in Redis: UNLINK details (the value, so its stale copy, and its refresh
lease), BUMP list generations; then this process's own near copies of them go (their push may
trail the reply, on another connection)."""

from caching.core import keys, metrics, rules
from caching.core.options import options
from caching.core.rules import Changes
from caching.near import tier
from caching.redis.cluster import by_slot
from caching.redis.connection import Client
from caching.redis.policy import call
from caching.redis.replication import Command, run_durably
from caching.redis.scripts import SHAS


def apply(changes: Changes, *, through_open_breaker: bool = False) -> None:
    """Apply an invalidation to this key version and the previous one, waiting for replicas;
    raises CacheUnavailableError. Runs even with ``ENABLED`` false (docs/writes.md)."""
    if not changes.drop and not changes.advance:
        return
    opts = options()

    def run(r: Client) -> tuple[int, int]:
        details = [k for k in changes.drop if not rules.require(k.namespace).generational]
        versions = keys.INVALIDATED_VERSIONS
        physical = sorted(
            [keys.physical(k, v) for k in details for v in versions]
            # with its refresh lease: a reload under way may store nothing (docs/reads.md)
            + [keys.refresh_lease(keys.physical(k, v)) for k in details for v in versions]
        )
        previous = sorted(
            keys.generation(ns, v)
            for ns in changes.advance
            for v in keys.INVALIDATED_VERSIONS
            if v != keys.VERSION
        )
        bump = SHAS["BUMP"]
        commands: list[tuple[str, Command]] = [
            (group[0], ("UNLINK", *group)) for group in by_slot(physical)
        ]
        commands += [
            (counter, ("EVALSHA", bump, 1, counter, ""))
            for counter in map(keys.generation, sorted(changes.advance))
        ]
        # In the previous version, only where a reader made one.
        commands += [(counter, ("EVALSHA", bump, 1, counter, "existing")) for counter in previous]
        run_durably(r, commands, replica_ack_ms=opts.replica_ack_ms)
        return len(physical), len(changes.advance)

    try:
        deleted, advanced = call(run, through_open_breaker=through_open_breaker)
    finally:  # taken, or perhaps taken (unacknowledged, timed out): this process's copies go
        if (near := tier.CURRENT.tier) is not None:
            names = [keys.physical(k) for k in changes.drop] + [
                keys.generation(namespace) for namespace in changes.advance
            ]
            near.cache.invalidate([name.encode() for name in names])
    metrics.INVALIDATIONS.labels("keys").inc(deleted)
    metrics.INVALIDATIONS.labels("generations").inc(advanced)
