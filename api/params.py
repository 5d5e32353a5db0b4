"""Request parameters: URL ids and query strings, checked by fast rules on the hit path and by
serializers (for their error messages) otherwise."""

import functools
import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import serializers

from api.responses import private

MAX_PK = 2**63 - 1  # PostgreSQL bigint


def parse_pk(raw: str) -> int | None:
    """A primary key from the URL; ``None`` (a 404) for anything else."""
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_PK:
        return None
    return int(raw)


class PageQuery(serializers.Serializer):  # type: ignore[type-arg]
    page = serializers.IntegerField(min_value=1, max_value=10**6, default=1)


_INT = re.compile(r"[1-9][0-9]{0,18}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")
# name: (pattern, upper bound for an integer; None for a string)
_FAST_RULES: dict[str, tuple[re.Pattern[str], int | None]] = {
    "page": (_INT, 10**6),
    "author": (_INT, MAX_PK),
    "category": (_SLUG, None),
}


def _fast_params(raw: dict[str, str], names: tuple[str, ...]) -> dict[str, Any] | None:
    """The common case without a serializer: every parameter well formed (else ``None``)."""
    params: dict[str, Any] = {"page": 1}
    for name, value in raw.items():
        if name not in names:
            continue  # unknown parameters are ignored, as by the serializers
        if name not in _FAST_RULES:
            return None  # a parameter without a fast rule: the serializer decides
        pattern, limit = _FAST_RULES[name]
        if not pattern.fullmatch(value):
            return None
        if limit is None:
            params[name] = value
        elif int(value) > limit:
            return None
        else:
            params[name] = int(value)
    return params


@functools.cache
def _field_names(serializer_class: type[serializers.Serializer[Any]]) -> tuple[str, ...]:
    return tuple(serializer_class().fields)


def query(
    serializer_class: type[serializers.Serializer[Any]],
    request: HttpRequest,
) -> tuple[dict[str, Any] | None, HttpResponse | None]:
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
        return dict(found.validated_data), None
    return None, private(JsonResponse(found.errors, status=400))
