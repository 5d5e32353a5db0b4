"""Helpers shared by the viewsets that serve reads through the cache service."""

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from caching.service import Result
from config.pagination import links

MAX_PK = 2**63 - 1  # PostgreSQL bigint


def parse_pk(raw: str) -> int:
    """A primary key from the URL; anything else is a 404, never a database error."""
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_PK:
        raise NotFound("Not found.")
    return int(raw)


class PageQuery(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=10**6, default=1)


def cached_response(result: Result, data) -> Response:
    return Response(data, headers={"X-Cache": result.status})


def page_response(request: Request, result: Result, number: int, transform=None) -> Response:
    """The DRF page shape ``{count, next, previous, results}`` from a cached page."""
    if result.value is None:
        raise NotFound("Invalid page.", code="invalid_page")
    following, preceding = links(request, number, result.value["pages"])
    results = result.value["results"]
    if transform is not None:
        results = [transform(item) for item in results]
    body = {"count": result.value["count"], "next": following, "previous": preceding, "results": results}
    return cached_response(result, body)
