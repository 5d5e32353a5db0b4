"""Cached bytes to HTTP responses: JSON rendered as DRF renders it, ETags and 304s, ``X-Cache``,
private caching, 404s that give nothing away, and page bodies with per-request links."""

import json
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils.cache import parse_etags  # type: ignore[attr-defined]  # not in django-stubs
from rest_framework.renderers import JSONRenderer

from caching import STALE, Entry, Result

_renderer = JSONRenderer()


def render(data: Any) -> bytes:
    """JSON exactly as DRF would send it."""
    return _renderer.render(data)


def private(response: HttpResponse) -> HttpResponse:
    """Bodies differ by reader (emails, drafts): no shared HTTP cache may keep them."""
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


def not_found(detail: str) -> HttpResponse:
    """A JSON 404. It carries no X-Cache: a hidden draft (cached) and a missing id (never
    cached) must look the same."""
    return private(JsonResponse({"detail": detail}, status=404))


def send(request: HttpRequest, result: Result, body: bytes, tag: str) -> HttpResponse:
    """``body`` with its ETag and X-Cache; a 304 when ``If-None-Match`` (weak comparison, RFC 9110
    13.1.2: a gzipping proxy's ``W/"tag"`` matches) says the client has it."""
    asked = parse_etags(request.META.get("HTTP_IF_NONE_MATCH", ""))
    wanted = {candidate.removeprefix("W/") for candidate in asked}
    response: HttpResponse
    if tag in wanted or "*" in wanted:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = tag
    response["X-Cache"] = result.status
    if result.status == STALE:  # past its TTL, as the database failed: how old it is
        response["Age"] = str(result.age)
    return private(response)


def page_body(request: HttpRequest, entry: Entry, params: dict[str, Any], results: bytes) -> bytes:
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
    values = (entry.meta["count"], following, preceding, results)
    return b'{"count":%d,"next":%s,"previous":%s,"results":%s}' % values
