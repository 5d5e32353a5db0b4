"""HTTP metrics middleware: counts every response by route, method and status, times it, and
keeps the in-flight gauge (``api.metrics``). ``HTTP_METRICS_ENABLED=false`` removes it.

The route label is the URL pattern's name (``post-detail``), never the raw path, so the label
values are bounded by the URL patterns; a request answered before or without URL resolution
(no pattern matched, an HTTPS redirect, a 413, a static file) is ``unmatched``. Methods
outside HTTP's standard set count as ``other``.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

from api.metrics import HTTP_IN_FLIGHT, HTTP_REQUESTS, HTTP_SECONDS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
UNMATCHED = "unmatched"


def route_of(request: HttpRequest) -> str:
    match = request.resolver_match
    if match is None:
        return UNMATCHED
    return match.view_name  # every URL pattern is named (config/urls.py)


class HttpMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not settings.HTTP_METRICS_ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response
        # Label children by their values: labels() takes a lock and builds a key each call.
        self._counters: dict[tuple[str, str, int], Callable[[], None]] = {}
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
        key = (route, method, response.status_code)
        count = self._counters.get(key)
        if count is None:
            count = HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc
            self._counters[key] = count
        count()
        observe = self._timers.get(route)
        if observe is None:
            observe = self._timers[route] = HTTP_SECONDS.labels(route).observe
        observe(elapsed)
        return response
