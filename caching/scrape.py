"""What ``/metrics`` serves: the cache layer's counters (``caching.metrics``), summed over the
worker processes, and the outbox backlog, counted in the database at scrape time."""

import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from caching.outbox.delivery import backlog


class OutboxCollector:
    """The outbox backlog (one query per scrape)."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "cache_outbox_backlog", "Invalidations waiting in the outbox for Redis."
        )
        family.add_metric([], backlog())
        yield family


def render() -> bytes:
    """The Prometheus text format: every worker's samples under gunicorn (multiprocess mode,
    ``PROMETHEUS_MULTIPROC_DIR``), else this process's own registry."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    collectors = CollectorRegistry()
    collectors.register(OutboxCollector())
    return generate_latest(registry) + generate_latest(collectors)
