"""Prometheus metrics of the application itself: HTTP traffic (``api.http_metrics``) and the
release it runs, served with the cache's by ``/metrics`` (docs/operations.md, "Metrics")."""

from prometheus_client import Counter, Gauge, Histogram

from api import release

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route (the URL pattern's name), method and status.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching Django to its response, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "HTTP requests being answered now, over the live workers.",
    multiprocess_mode="livesum",
)
RELEASE_INFO = Gauge(
    "app_release_info",
    "1, labelled with the version and git commit that the live workers run.",
    ["version", "commit"],
    multiprocess_mode="livemax",
)


def publish_release() -> None:
    """Set ``app_release_info`` for this process (once, when the app is ready)."""
    RELEASE_INFO.labels(version=release.VERSION, commit=release.commit()).set(1)
