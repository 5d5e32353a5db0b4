"""Request ids: the client's ``X-Request-ID`` when it is a sane token, else a new one; echoed in
the response and carried by every log line of the request (docs/operations.md, "Logs")."""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from api.log import CURRENT, RequestContext

HEADER = "X-Request-ID"
# Letters, digits and -_.:@, at most 128: safe in a log line and in a header, and bounded.
SANE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")


def request_id_of(request: HttpRequest) -> str:
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if SANE.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in ``MIDDLEWARE``, so that every other layer's log lines carry the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = request_id_of(request)
        token = CURRENT.set(RequestContext(request_id, request.method or "-", request.path))
        try:
            response = self.get_response(request)
        finally:
            CURRENT.reset(token)
        response[HEADER] = request_id
        return response
