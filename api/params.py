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


@functools.cache
def _fast_rules(
    serializer_class: type[serializers.Serializer[Any]],
) -> tuple[dict[str, tuple[re.Pattern[str], int | None] | None], dict[str, Any]]:
    """The serializer's own bounds as patterns for the common case (name: pattern, and the upper
    bound of an integer, ``None`` for a string), and its defaults. A field of another kind, with
    validators of its own, or checked by the serializer's ``validate_<name>`` has no fast rule
    (``None``): the serializer decides; nor has any field of a serializer with ``validate``."""
    rules: dict[str, tuple[re.Pattern[str], int | None] | None] = {}
    defaults: dict[str, Any] = {}
    checks_itself = serializer_class.validate is not serializers.Serializer.validate
    for name, field in serializer_class().fields.items():
        rules[name] = None
        if field.default is not serializers.empty:
            defaults[name] = field.default
        if checks_itself or hasattr(serializer_class, f"validate_{name}"):
            continue
        if "validators" in getattr(field, "_kwargs", {}):  # DRF keeps a field's arguments
            continue
        if isinstance(field, serializers.IntegerField) and field.min_value == 1:
            top = field.max_value or MAX_PK
            rules[name] = (re.compile(rf"[1-9][0-9]{{0,{len(str(top)) - 1}}}"), top)
        elif isinstance(field, serializers.SlugField) and not field.allow_blank:
            shortest, longest = max(field.min_length or 1, 1), field.max_length or ""
            rules[name] = (re.compile(rf"[-a-zA-Z0-9_]{{{shortest},{longest}}}"), None)
    return rules, defaults


def _fast_params(
    raw: dict[str, str], serializer_class: type[serializers.Serializer[Any]]
) -> dict[str, Any] | None:
    """The common case without a serializer: every parameter well formed (else ``None``)."""
    rules, defaults = _fast_rules(serializer_class)
    params = dict(defaults)
    for name, value in raw.items():
        if name not in rules:
            continue  # unknown parameters are ignored, as by the serializers
        rule = rules[name]
        if rule is None:
            return None  # a parameter without a fast rule: the serializer decides
        pattern, limit = rule
        if not pattern.fullmatch(value):
            return None
        if limit is not None and int(value) > limit:
            return None
        params[name] = value if limit is None else int(value)
    return params


def query(
    serializer_class: type[serializers.Serializer[Any]], request: HttpRequest
) -> dict[str, Any] | HttpResponse:
    """Validated query parameters, or the 400 that names the bad ones: well-formed ones pass the
    fast rules without the serializer's cost; anything else gets the serializer's messages."""
    raw = request.GET.dict()
    fast = _fast_params(raw, serializer_class)
    if fast is not None:
        return fast
    found = serializer_class(data=raw)
    if found.is_valid():
        return dict(found.validated_data)
    return private(JsonResponse(found.errors, status=400))
