"""The access line: one record per request on logger ``api.access`` (docs/operations.md, "Logs").
Second in ``MIDDLEWARE``, after the request id, it times everything else the application does."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase

from api.net import client_address

log = logging.getLogger("api.access")


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not settings.LOG_ACCESS or not log.isEnabledFor(logging.INFO):
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        start = time.perf_counter()
        response = self.get_response(request)
        log.info(
            "request",
            extra={
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                "remote": client_address(request),
            },
        )
        return response
