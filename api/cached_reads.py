"""GET list and detail answered from the cache's rendered bytes (no ORM, serializer or renderer
on a hit), early in ``EarlyReadsMiddleware`` where the request allows, else on DRF's full path;
both run the viewset's own checks (docs/reads.md, "How a read flows" and "One request path")."""

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.urls import Resolver404, ResolverMatch, get_urlconf, resolve
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission

from api.errors import database_unavailable
from api.params import parse_pk
from api.responses import not_found
from caching import DatabaseUnavailableError

EARLY = "early_read"  # the request attribute that tells the view it is on the early path


def wants_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "*/*")
    return "format" not in request.GET and ("json" in accept or "*/*" in accept)


def object_check_may_refuse_reads(permission: BasePermission) -> bool:
    overridden = type(permission).has_object_permission is not BasePermission.has_object_permission
    return overridden and not getattr(permission, "object_check_allows_reads", False)


class DeclinedError(Exception):
    """Raised out of ``dispatch`` on the early path where the full path must answer (DRF would
    refuse, or the object must be checked first): ``EarlyReadsMiddleware`` passes the request on."""


class CachedReadsMixin:
    """For viewsets: GET list and retrieve answered by ``read_list(request, reader)`` and
    ``read_detail(request, reader, pk)``, early (``EarlyReadsMiddleware``) when they can be."""

    action_map: dict[str, str]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if getattr(request, EARLY, False):
            return self._early(request, args, kwargs)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc, no-any-return]

    def _early(
        self, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponseBase:
        """DRF's ``dispatch`` without its exception handling: ``DeclinedError`` where it would
        refuse or where the object must be checked."""
        view: Any = self
        if self.action_map.get("get") not in ("list", "retrieve"):
            raise DeclinedError  # an extra action of the viewset's: its own code answers
        view.action = self.action_map["get"]  # as DRF's initialize_request sets it
        if view.action == "retrieve" and self._object_check_may_refuse():
            raise DeclinedError  # before any check runs, so that none runs twice
        view.args, view.kwargs = args, kwargs
        drf = view.request = view.initialize_request(request, *args, **kwargs)
        view.headers = view.default_response_headers
        try:
            view.initial(drf, *args, **kwargs)
        except (APIException, Http404, PermissionDenied):  # what DRF's handle_exception answers
            raise DeclinedError from None
        response = self._read(view.action, request, drf.user, kwargs)
        return view.finalize_response(drf, response)  # type: ignore[no-any-return]

    def _object_check_may_refuse(self) -> bool:
        view: Any = self
        return any(object_check_may_refuse_reads(p) for p in view.get_permissions())

    def list(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._read("list", request, request.user, kwargs)

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if self._object_check_may_refuse():
            self.get_object()  # type: ignore[attr-defined]  # runs the object checks
        return self._read("retrieve", request, request.user, kwargs)

    def read_list(self, request: HttpRequest, reader: Any) -> HttpResponse:
        raise NotImplementedError

    def read_detail(self, request: HttpRequest, reader: Any, pk: int) -> HttpResponse:
        raise NotImplementedError

    def _read(
        self, action: str | None, request: HttpRequest, reader: Any, kwargs: dict[str, Any]
    ) -> HttpResponse:
        if action == "list":
            return self.read_list(request, reader)
        pk = parse_pk(kwargs.get("pk", ""))
        return self.read_detail(request, reader, pk) if pk is not None else not_found("Not found.")


def _resolve(urlconf: str, path: str) -> ResolverMatch | None:
    try:
        return resolve(path, urlconf)
    except Resolver404:
        return None


# The last 1,024 paths of up to 200 characters (resolving took 6% of a worker's time on hits);
# the views only read a match, never change it.
_remembered = functools.lru_cache(maxsize=1024)(_resolve)


class EarlyReadsMiddleware:
    """Answers an eligible cached read itself, or passes the request on down the full path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)
        self.frame_options = XFrameOptionsMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self._answer(request)
        return self.get_response(request) if response is None else response

    def _answer(self, request: HttpRequest) -> HttpResponseBase | None:
        session = settings.SESSION_COOKIE_NAME in request.COOKIES
        if request.method != "GET" or session or not wants_json(request):
            return None
        path, urlconf = request.path_info, get_urlconf() or settings.ROOT_URLCONF
        match = (_remembered if len(path) <= 200 else _resolve)(urlconf, path)
        if match is None or not issubclass(getattr(match.func, "cls", object), CachedReadsMixin):
            return None
        if self.common.process_request(request) is not None:  # the host check; a redirect
            return None
        request.resolver_match = match
        setattr(request, EARLY, True)
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except DeclinedError:
            return None
        except DatabaseUnavailableError as error:  # the full path's middleware would answer so
            response = database_unavailable(request, error)
        finally:
            setattr(request, EARLY, False)
        response = self.frame_options.process_response(request, response)
        return self.common.process_response(request, response)
