"""Who the client is: its address, read the same way by the login lockout (axes), the write
throttle and the ``/metrics`` allow-list."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The client's address. Behind ``PROXY_COUNT`` proxies that each append to
    X-Forwarded-For, the entry that many places from the right (what the nearest trusted proxy
    saw); entries further left are the client's own claims and never trusted. Without proxies,
    or when the header is shorter than the proxy count or its entry is not an IP address (a
    misconfigured proxy), ``REMOTE_ADDR``."""
    count = settings.PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                pass
    address: str | None = request.META.get("REMOTE_ADDR")
    return address
