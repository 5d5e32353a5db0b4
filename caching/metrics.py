"""Prometheus metrics of the cache layer, correct under gunicorn's several worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``config/gunicorn.conf.py`` sets it and marks dead
workers), every process writes its samples to files there and ``/metrics`` adds them up
(prometheus-client's multiprocess mode); without it (``runserver``, tests) the process's own
registry is served.
"""

import os

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # must exist before the first metric is made
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

READS = Counter("cache_reads_total", "Cached reads by namespace and outcome (HIT, MISS, BYPASS).", ["namespace", "outcome"])
READ_SECONDS = Histogram(
    "cache_read_seconds", "Time in the cache service per read, by outcome.", ["outcome"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
INVALIDATIONS = Counter("cache_invalidations_total", "Invalidation work applied to Redis.", ["kind"])
BREAKER_OPEN = Gauge("cache_breaker_open", "1 while a worker's circuit breaker is open.", multiprocess_mode="livemax")


class OutboxCollector:
    """The outbox backlog, counted in the database at scrape time (one query)."""

    def collect(self):
        from caching.outbox import backlog

        family = GaugeMetricFamily("cache_outbox_backlog", "Invalidations waiting in the outbox for Redis.")
        family.add_metric([], backlog())
        yield family


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    collectors = CollectorRegistry()
    collectors.register(OutboxCollector())
    return generate_latest(registry) + generate_latest(collectors)
