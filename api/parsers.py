"""Request parsing with bounds (SPEC 10.6, 5): DRF's JSON parser, safe on any nesting depth,
taking only an object as a body."""

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


class PayloadTooLargeError(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"Request body too large: at most {settings.MAX_REQUEST_BYTES} bytes."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser; too deep nesting (a RecursionError, which DRF does not catch) and a body
    that is not an object are 400s, so ``request.data`` is a mapping; an oversized body a 413."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except RequestDataTooBig:
            raise PayloadTooLargeError() from None
        if not isinstance(data, dict):
            raise ParseError("JSON body must be an object.")
        return data
