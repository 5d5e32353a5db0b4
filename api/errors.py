"""Fail closed (SPEC 10.1, 10.6): one JSON error shape, ``{"detail": ...}``, for every error
under ``/api/`` (DRF's through ``api_exception_handler``, the rest through ``handler404`` & co.,
Django's pages elsewhere), and bounded input (docs/security.md, "Fail closed")."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import resolve
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import exception_handler

from api.parsers import PayloadTooLargeError
from caching import DatabaseUnavailableError

API_PREFIX = "/api/"


def _error(detail: str, status_code: int) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status_code)


class BoundedRequestMiddleware:
    """A declared body over ``MAX_REQUEST_BYTES`` is a 413 before anything reads it; Django reads
    no more than the declared length, and keeps at most ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error("Malformed Content-Length header.", 400)
        if length > settings.MAX_REQUEST_BYTES:
            return _error(PayloadTooLargeError.default_detail, 413)
        return self.get_response(request)


def database_unavailable(request: HttpRequest, error: DatabaseUnavailableError) -> HttpResponse:
    """SPEC 5: a request that needs PostgreSQL while it is away (docs/failures.md, "When
    PostgreSQL fails"); the breaker's log line says so once, not each answer."""
    detail = "The database is unavailable; try again shortly."
    response = _error(detail, 503) if _is_api(request) else HttpResponse(detail, status=503)
    response["Retry-After"] = str(error.retry_after)
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's flag: not per answer
    return response


class DatabaseUnavailableMiddleware:
    """A view that could not reach PostgreSQL in time answers a 503 with ``Retry-After``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DatabaseUnavailableError):
            return database_unavailable(request, exception)
        return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; a body too large for Django's reader is a 413 like the middleware's."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLargeError()
    return exception_handler(exc, context)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(
    request: HttpRequest, exception: Exception, template_name: str = "400.html"
) -> HttpResponse:
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return _error(PayloadTooLargeError.default_detail, 413)
        return _error("Bad request.", 400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _error("You do not have permission to perform this action.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _error("Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    if _is_api(request):
        return _error("Internal server error.", 500)
    return defaults.server_error(request, template_name)


@csrf_exempt  # a POST to an unknown URL is a 404, not a CSRF failure
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The last ``/api/`` route: an unknown URL is a JSON 404 even with ``DEBUG`` on; a GET of a
    known URL without its final slash is redirected to it, as ``APPEND_SLASH`` does."""
    with_slash = request.path + "/"
    if (
        request.method in ("GET", "HEAD")
        and not request.path.endswith("/")
        and resolve(with_slash).func is not api_not_found
    ):
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(with_slash + (f"?{query}" if query else ""))
    return _error("Not found.", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: JSON under ``/api/``, Django's page elsewhere."""
    if _is_api(request):
        return _error(f"CSRF Failed: {reason}", 403)
    return csrf.csrf_failure(request, reason)
