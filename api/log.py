"""How log records are written: one JSON object per line or a readable line, both carrying the
request a record was made in (docs/operations.md, "Logs"). Imported while logging is configured
(``config.log_config``), so nothing here may touch apps, models or settings."""

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    method: str
    path: str


# The request the current thread is serving (set by api.request_id.RequestIdMiddleware).
CURRENT: ContextVar[RequestContext | None] = ContextVar("request", default=None)

# The request fields a record may carry, in the order the text format shows them.
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "remote")
# Record attributes that are objects rather than data (Django's request and socket).
_OBJECTS = ("request", "server_time")
# What the text format does not show as key=value: the record's own attributes, and these.
_NOT_DATA = {*RESERVED_ATTRS, *_OBJECTS, *REQUEST_FIELDS, "status_code", "message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Adds the current request's id, method and path to every record made while it is served,
    and the status of Django's ``django.request`` records. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = CURRENT.get()
        if context is not None and not hasattr(record, "request_id"):
            record.request_id = context.request_id
            record.method = context.method
            record.path = context.path
        status = getattr(record, "status_code", None)
        if status is not None and not hasattr(record, "status"):
            record.status = status
        return True


class JsonFormatter(_JsonFormatter):
    """``{"timestamp", "level", "logger", "message", "pid", ...}``, the request fields, the
    traceback as ``exc_info`` and any ``extra=`` data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "{levelname}{name}{message}{process}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            reserved_attrs=[*RESERVED_ATTRS, *_OBJECTS, "status_code"],
            timestamp=True,
        )


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...``: request fields, ``extra=`` data, traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        given = [name for name in vars(record) if name not in _NOT_DATA]
        fields = [
            f"{name}={_quoted(getattr(record, name))}"
            for name in [*REQUEST_FIELDS, *given]
            if getattr(record, name, None) is not None
        ]
        return " ".join([line, *fields])


def _quoted(value: Any) -> str:
    """A value as one token: quoted when it holds a space or a control character, so that a
    request path cannot start a line of its own."""
    text = str(value)
    return text if text.isprintable() and " " not in text else json.dumps(text)
