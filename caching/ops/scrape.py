"""What ``/metrics`` serves: this process's registry summed over the worker processes, plus the
outbox backlog and Redis memory, both read at scrape time, each left out while its server is
away (docs/operations.md, "Metrics")."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from caching.database.guard import DatabaseUnavailableError
from caching.ops.memory import memory
from caching.outbox.delivery import outbox_backlog
from caching.redis.policy import CacheUnavailableError

# A live gauge's sample file: gauge_livesum_<pid>.db, gauge_livemax_<pid>.db, ...
_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


class OutboxCollector:
    """The outbox backlog (one query per scrape); nothing while PostgreSQL is away, so that the
    rest (``db_breaker_open`` among them) is still scraped."""

    def collect(self) -> Iterator[Metric]:
        try:
            backlog = outbox_backlog()
        except DatabaseUnavailableError:
            return
        family = GaugeMetricFamily(
            "cache_outbox_backlog", "Invalidations waiting in the outbox for Redis."
        )
        family.add_metric([], backlog)
        yield family


class RedisMemoryCollector:
    """Bytes used and ``maxmemory`` (0: no limit) per primary; nothing while Redis is down."""

    def collect(self) -> Iterator[Metric]:
        try:
            nodes = memory()["nodes"]
        except CacheUnavailableError:
            return
        used = GaugeMetricFamily(
            "cache_redis_memory_used_bytes", "Memory Redis uses, per primary.", labels=["node"]
        )
        limit = GaugeMetricFamily(
            "cache_redis_memory_max_bytes",
            "Redis maxmemory per primary (0: no limit).",
            labels=["node"],
        )
        for node in nodes:
            used.add_metric([node["node"]], node["used_memory"])
            limit.add_metric([node["node"]], node["maxmemory"])
        yield used
        yield limit


def forget_exited_workers(directory: Path) -> None:
    """Drop the live gauges of processes that are gone (a worker the server replaced), under
    every server: no server hook marks a worker dead."""
    for path in directory.glob("gauge_live*.db"):
        found = _LIVE_FILE.fullmatch(path.name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # another user's process: alive


def render() -> bytes:
    """The Prometheus text format: every worker's samples under a multi-process server
    (multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), else this process's own registry."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        forget_exited_workers(Path(directory))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    collectors = CollectorRegistry()
    collectors.register(OutboxCollector())
    collectors.register(RedisMemoryCollector())
    return generate_latest(registry) + generate_latest(collectors)
