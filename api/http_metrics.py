"""HTTP metrics middleware: counts every response by route (the URL pattern's name, so the
labels are bounded), method (``other`` outside HTTP's standard set) and status, times it, and
keeps the in-flight gauge (``api.metrics``; docs/operations.md, "Metrics")."""

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

from api.metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS, HTTP_SECONDS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
UNMATCHED = "unmatched"


def route_of(request: HttpRequest) -> str:
    match = request.resolver_match  # every URL pattern is named (config/urls.py)
    return UNMATCHED if match is None else match.view_name


class HttpMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not settings.HTTP_METRICS_ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response
        # Label children by their values: labels() takes a lock and builds a key each call.
        self._counters: dict[tuple[str, str, str], Callable[[], None]] = {}
        self._timers: dict[str, Callable[[float], None]] = {}

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        HTTP_IN_FLIGHT.inc()
        start = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            HTTP_IN_FLIGHT.dec()
        elapsed = time.perf_counter() - start
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        key = (route, method, str(response.status_code))
        count = self._counters.get(key)
        if count is None:
            count = self._counters[key] = HTTP_REQUESTS.labels(*key).inc
        count()
        observe = self._timers.get(route)
        if observe is None:
            observe = self._timers[route] = HTTP_SECONDS.labels(route).observe
        observe(elapsed)
        return response
