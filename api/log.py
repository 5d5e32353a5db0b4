"""Logging helpers used by ``LOGGING`` in the settings (imported while logging is configured,
so nothing here may touch apps or models)."""

import json
import logging


class RequestLogFilter(logging.Filter):
    """Adds ``method`` and ``path`` to ``django.request`` records (``-`` when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        record.method = getattr(request, "method", "-")
        record.path = json.dumps(getattr(request, "path", "-"))
        return True
