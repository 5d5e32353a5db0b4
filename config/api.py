"""The read side of the API: cached entries served as bytes, and the fast path around DRF.

A GET on a list or a detail is answered from the cache's rendered bytes: no ORM, serializer or
renderer on a hit. For anonymous and token-authenticated readers even DRF's request cycle is
skipped (``CachedReadsMixin.dispatch``); other readers (a session, a bad token) go through DRF,
which ends in the same read functions.
"""

import json

from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.urls import remove_query_param, replace_query_param

from caching.entry import Entry
from caching.service import Result

MAX_PK = 2**63 - 1  # PostgreSQL bigint
_renderer = JSONRenderer()


def render(data) -> bytes:
    """JSON exactly as DRF would send it."""
    return _renderer.render(data)


def parse_pk(raw: str) -> int | None:
    """A primary key from the URL; ``None`` (a 404) for anything else."""
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_PK:
        return None
    return int(raw)


class PageQuery(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=10**6, default=1)


def query(serializer_class, request) -> tuple[dict | None, HttpResponse | None]:
    """Validated query parameters, or the 400 that names the bad ones."""
    found = serializer_class(data=request.GET.dict())
    if found.is_valid():
        return found.validated_data, None
    return None, JsonResponse(found.errors, status=400)


def not_found(detail: str, result: Result | None = None) -> HttpResponse:
    response = JsonResponse({"detail": detail}, status=404)
    if result is not None:
        response["X-Cache"] = result.status
    return response


def send(request, result: Result, body: bytes, tag: str) -> HttpResponse:
    """``body`` with its ETag and X-Cache; a 304 when the client already has it."""
    if tag in request.META.get("HTTP_IF_NONE_MATCH", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = tag
    response["X-Cache"] = result.status
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


def page_body(request, entry: Entry, number: int, results: bytes) -> bytes:
    """The DRF page ``{count, next, previous, results}``, links built for this request."""
    url = request.build_absolute_uri()
    following = replace_query_param(url, "page", number + 1) if number < entry.meta["pages"] else None
    preceding = None if number <= 1 else (remove_query_param(url, "page") if number == 2 else replace_query_param(url, "page", number - 1))
    return b'{"count":%d,"next":%s,"previous":%s,"results":%s}' % (
        entry.meta["count"], json.dumps(following).encode(), json.dumps(preceding).encode(), results,
    )


def fast_reader(request):
    """The reader, when it can be known without DRF: anonymous, a session, or a valid token
    (one query). ``None`` when DRF must answer (a malformed or unknown credential: its 401)."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return request.user
    scheme, _, key = header.partition(" ")
    if scheme != "Token" or not key:
        return None
    token = Token.objects.select_related("user").filter(key=key.strip()).first()
    return token.user if token is not None and token.user.is_active else None


def wants_json(request) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "*/*")
    return "format" not in request.GET and ("json" in accept or "*/*" in accept)


class CachedReadsMixin:
    """For viewsets: GET list and retrieve answered by ``read_list(request, reader)`` and
    ``read_detail(request, reader, pk)``, on the fast path when the reader is known cheaply."""

    def dispatch(self, request, *args, **kwargs):
        action = self.action_map.get("get") if request.method == "GET" else None
        if action in ("list", "retrieve") and wants_json(request):
            reader = fast_reader(request)
            if reader is not None:
                return self._read(action, request, reader, kwargs)
        return super().dispatch(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        return self._read("list", request, request.user, kwargs)

    def retrieve(self, request, *args, **kwargs):
        return self._read("retrieve", request, request.user, kwargs)

    def _read(self, action, request, reader, kwargs):
        if action == "list":
            return self.read_list(request, reader)
        pk = parse_pk(kwargs.get("pk", ""))
        return self.read_detail(request, reader, pk) if pk is not None else not_found("Not found.")
