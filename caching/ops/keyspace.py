"""Operator-sized work on the whole key space: namespace clears and key counts. Heavy: SCAN
visits every key (on a cluster, of every primary) in batches of ``SCAN_BATCH``, so Redis never
blocks long, and UNLINK frees memory off its main thread. For operators, never on writes."""

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator

from caching.core import keys, rules
from caching.redis.cluster import unlink
from caching.redis.connection import Client
from caching.redis.policy import call

log = logging.getLogger("caching")
SCAN_BATCH = 1000
Progress = Callable[[int], object]  # told each batch's count as it is done (a bar's update)


def _batches(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def clear_namespace(name: str, *, dry_run: bool = False, progress: Progress | None = None) -> int:
    """Delete every key of namespace ``name``; how many. Raises ``UnknownNamespaceError``."""
    pattern = keys.namespace_pattern(rules.require(name).name)
    removed = delete_matching(pattern, dry_run=dry_run, progress=progress)
    log.info(
        "namespace flushed",
        extra={
            "event": "namespace_flushed",
            "namespace": name,
            "keys": removed,
            "dry_run": dry_run,
        },
    )
    return removed


def delete_matching(
    pattern: str, *, dry_run: bool = False, progress: Progress | None = None
) -> int:
    """Delete every key matching the (escaped) SCAN ``pattern``; how many, told per batch too."""

    def run(r: Client) -> int:
        removed = 0
        for batch in _batches(r.scan_iter(match=pattern, count=SCAN_BATCH), SCAN_BATCH):
            done = len(batch) if dry_run else unlink(r, [name.decode() for name in batch])
            removed += done
            if progress:
                progress(done)
        return removed

    return call(run)


def count_keys() -> dict[str, int]:
    """Keys per registered namespace (one SCAN of the key space)."""
    counts = dict.fromkeys(rules.namespaces(), 0)

    def run(r: Client) -> None:
        for raw in r.scan_iter(match=keys.prefix_pattern(), count=SCAN_BATCH):
            name = keys.namespace_of(raw.decode())
            if name in counts:
                counts[name] += 1

    call(run)
    return counts
