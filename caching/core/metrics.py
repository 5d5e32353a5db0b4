"""Prometheus metrics of the cache layer, served by ``caching.ops.scrape`` and summed over the
worker processes (docs/operations.md, "Metrics")."""

import os

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # must exist before the first metric is made
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import Counter, Gauge, Histogram  # noqa: E402 (after the directory)

READS = Counter(
    "cache_reads_total",
    "Cached reads by namespace and outcome (HIT, MISS, STALE, BYPASS).",
    ["namespace", "outcome"],
)
READ_SECONDS = Histogram(
    "cache_read_seconds",
    "Time in the cache service per read, by outcome.",
    ["outcome"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
INVALIDATIONS = Counter(
    "cache_invalidations_total", "Invalidation work applied to Redis.", ["kind"]
)
BREAKER_OPEN = Gauge(
    "cache_breaker_open",
    "1 while a worker's circuit breaker is open.",
    multiprocess_mode="livemax",
)
DB_UNAVAILABLE = Counter(
    "db_unavailable_total",
    "Database calls that failed for want of PostgreSQL, by reason: breaker (failed fast), "
    "connect, slow (over 1 s, counted by the breaker), deadline (no answer in time), failed "
    "(a timeout or a lost connection).",
    ["reason"],
)
DB_BREAKER_OPEN = Gauge(
    "db_breaker_open", "1 while a worker's database breaker is open.", multiprocess_mode="livemax"
)
OUTBOX_UNCHECKED = Gauge(
    "cache_outbox_unchecked",
    "1 while a worker serves from the cache without checking the outbox, the database away.",
    multiprocess_mode="livemax",
)
UNCHECKED_READS = Counter(
    "cache_unchecked_reads_total",
    "Reads served from the cache while the outbox could not be checked (the database away).",
)
