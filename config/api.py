"""The read side of the API: cached entries served as bytes, and the fast path around DRF.

A GET on a list or a detail is answered from the cache's rendered bytes: no ORM, serializer or
renderer on a hit. For anonymous and token-authenticated readers even DRF's request cycle is
skipped (``CachedReadsMixin.dispatch``); other readers (a session, a bad token) go through DRF,
which ends in the same read functions.
"""

import functools
import json
import re
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from rest_framework import serializers
from django.utils.cache import parse_etags
from rest_framework.authentication import get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer

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


_INT = re.compile(r"[1-9][0-9]{0,18}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")
_FAST_RULES = {"page": (_INT, 10**6), "author": (_INT, MAX_PK), "category": (_SLUG, None)}


def _fast_params(raw: dict, names: tuple[str, ...]) -> dict | None:
    """The common case without a serializer: every parameter well formed (else ``None``)."""
    params = {"page": 1}
    for name, value in raw.items():
        if name not in names:
            continue  # unknown parameters are ignored, as by the serializers
        if name not in _FAST_RULES:
            return None  # a parameter without a fast rule: the serializer decides
        pattern, limit = _FAST_RULES[name]
        if not pattern.fullmatch(value):
            return None
        params[name] = value if limit is None else int(value)
        if limit is not None and params[name] > limit:
            return None
    return params


@functools.cache
def _field_names(serializer_class) -> tuple[str, ...]:
    return tuple(serializer_class().fields)


def query(serializer_class, request) -> tuple[dict | None, HttpResponse | None]:
    """Validated query parameters, or the 400 that names the bad ones.

    Well-formed parameters are checked by ``_FAST_RULES`` (the serializer's rules, without its
    cost on every cached read); anything else goes to the serializer for its error messages.
    """
    raw = request.GET.dict()
    fast = _fast_params(raw, _field_names(serializer_class))
    if fast is not None:
        return fast, None
    found = serializer_class(data=raw)
    if found.is_valid():
        return found.validated_data, None
    return None, _private(JsonResponse(found.errors, status=400))


def not_found(detail: str) -> HttpResponse:
    """A JSON 404. It carries no X-Cache: a hidden draft (cached) and a missing id (never
    cached) must look the same."""
    return _private(JsonResponse({"detail": detail}, status=404))


def _private(response: HttpResponse) -> HttpResponse:
    """Bodies differ by reader (emails, drafts): no shared HTTP cache may keep them."""
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


def send(request, result: Result, body: bytes, tag: str) -> HttpResponse:
    """``body`` with its ETag and X-Cache; a 304 when the client already has it. ``If-None-Match``
    uses the weak comparison (RFC 9110 13.1.2): ``W/"tag"``, as a gzipping proxy rewrites our
    tag, matches ``"tag"``."""
    wanted = {candidate.removeprefix("W/") for candidate in parse_etags(request.META.get("HTTP_IF_NONE_MATCH", ""))}
    if tag in wanted or "*" in wanted:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = tag
    response["X-Cache"] = result.status
    return _private(response)


def page_body(request, entry: Entry, params: dict, results: bytes) -> bytes:
    """The DRF page ``{count, next, previous, results}``; the links are built for this request
    from the validated parameters (canonical order, ``page`` last, none on the first page)."""
    number = params["page"]
    base = f"{request.scheme}://{request.get_host()}{request.path}"
    filters = [(name, params[name]) for name in sorted(params) if name != "page"]

    def link(page: int) -> bytes:
        query = urlencode(filters + ([("page", page)] if page > 1 else []))
        return json.dumps(f"{base}?{query}" if query else base).encode()

    following = link(number + 1) if number < entry.meta["pages"] else b"null"
    preceding = link(number - 1) if number > 1 else b"null"
    return b'{"count":%d,"next":%s,"previous":%s,"results":%s}' % (entry.meta["count"], following, preceding, results)


def fast_reader(request):
    """The reader, when it can be known without DRF: anonymous, a session, or a valid token
    (one query). ``None`` when DRF must answer (a malformed or unknown credential: its 401)."""
    if "HTTP_AUTHORIZATION" not in request.META:
        return request.user
    parts = get_authorization_header(request).split()  # parsed as DRF's TokenAuthentication does
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        key = parts[1].decode()
    except UnicodeError:
        return None
    token = Token.objects.select_related("user").filter(key=key).first()
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
