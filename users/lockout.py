"""Login lockout (SPEC 10.3) on django-axes and its database handler, shared by the token
endpoint and the admin login: per username and address, and per address at ``ADDRESS_FACTOR``
times the limit (docs/security.md, "Login lockout")."""

import math
from datetime import datetime
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.exceptions import APIException

ADDRESS_FACTOR = 10
LOCKED_OUT = "Too many failed login attempts. Try again later."


def _failures(attempts: QuerySet[Any]) -> int:
    total: int | None = attempts.aggregate(n=Sum("failures_since_start"))["n"]
    return total or 0


class LockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]  # axes ships no type information
    """axes' database handler with the address-wide limit at ``ADDRESS_FACTOR`` times the
    per-username one. ``AXES_LOCKOUT_PARAMETERS`` lists (username, address), then address."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        pair, address = map(_failures, self.get_user_attempts(request, credentials))
        # Against AUTH_FAILURE_LIMIT: address // 10 >= limit exactly when address >= 10 x limit
        return max(pair, address // ADDRESS_FACTOR)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        pair: QuerySet[Any] = self.filter_user_attempts(request, credentials)[0]
        count, _ = pair.delete()
        return count


def retry_after(request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
    """Seconds until the newest counted failure of this pair or address ages out."""
    attempts = LockoutHandler().get_user_attempts(request, credentials)
    newest = (qs.aggregate(t=Max("attempt_time"))["t"] for qs in attempts)
    latest: datetime | None = max((t for t in newest if t is not None), default=None)
    if latest is None:
        return settings.AUTH_LOCKOUT_SECONDS
    remaining = (latest + settings.AXES_COOLOFF_TIME - timezone.now()).total_seconds()
    return max(1, math.ceil(remaining))


class LockedOutError(APIException):
    """The lockout's 429 on the API: the same body as ``lockout_response``, with ``Retry-After``
    (DRF's handler sets it from ``wait``)."""

    status_code = 429
    default_detail = LOCKED_OUT
    default_code = "locked_out"

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait


def refuse_if_locked_out(request: HttpRequest, username: object) -> None:
    """After a failed login check: the 429 (``LockedOutError``, with ``Retry-After``) when
    axes locked this username and address out on this request."""
    if getattr(request, "axes_locked_out", False):  # set by axes on this request
        raise LockedOutError(retry_after(request, {"username": username}))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The 429 for a locked-out login: DRF's JSON error shape under ``/api/``, plain text for
    the admin's form; both with ``Retry-After``."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": LOCKED_OUT}, status=429)
    else:
        response = HttpResponse(LOCKED_OUT, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after(request, credentials))
    return response
