"""Write throttling (SPEC 10.4): DRF's per-user rate throttle on writes, staff exempt.

Reads are never throttled here (their cost is the cache's job; per-address read limits belong to
the proxy). The counters live in Redis through the ``throttle`` cache alias, which ignores
Redis errors: while Redis is down the throttle fails open and writes keep working.
"""

from django.conf import settings
from django.core.cache import caches
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import UserRateThrottle


class WriteRateThrottle(UserRateThrottle):
    """``API_WRITE_RATE`` POST, PUT, PATCH and DELETE requests per user (per client address for
    anonymous callers, such as the token endpoint); staff are not throttled."""

    scope = "writes"
    cache = caches["throttle"]

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS or (request.user and request.user.is_staff):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        """DRF's key (``throttle_writes_<user id>``) under the cache layer's key prefix, so two
        deployments (or test runs) sharing a Redis keep separate counts."""
        key = super().get_cache_key(request, view)
        return key and f"{settings.CACHE_LAYER['KEY_PREFIX']}:{key}"
