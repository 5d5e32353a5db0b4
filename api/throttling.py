"""Write throttling (SPEC 10.4) at ``API_WRITE_RATE``, counted in Redis by the cache layer and
failing open: an outage must not turn writes into 429s (docs/security.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from api.net import client_address
from caching import count_event

if TYPE_CHECKING:  # rest_framework.views loads this module (DEFAULT_THROTTLE_CLASSES): no cycle
    from rest_framework.request import Request
    from rest_framework.views import APIView


class WriteRateThrottle(SimpleRateThrottle):
    """POST, PUT, PATCH and DELETE per user (per client address for anonymous callers, such as
    the token endpoint), in fixed windows of the rate's period; staff are not throttled."""

    scope = "writes"
    left: int | None = None
    # Set by SimpleRateThrottle.__init__ from the rate (not declared in the DRF stubs).
    num_requests: int
    duration: int

    def allow_request(self, request: Request, view: APIView) -> bool:
        user = request.user
        if self.rate is None or request.method in SAFE_METHODS or (user and user.is_staff):
            return True
        if user and user.is_authenticated:
            who = f"user-{user.pk}"
        else:
            who = f"address-{client_address(request)}"
        counted = count_event(self.scope, who, self.duration)
        if counted is None:
            return True  # fail open
        events, self.left = counted
        return events <= self.num_requests

    def wait(self) -> int | None:
        return self.left
