"""Who the client is: its address, read the same way by the login lockout (axes), the write
throttle and the ``/metrics`` allow-list."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """Behind ``PROXY_COUNT`` proxies, the X-Forwarded-For entry that many places from the right
    when it is an IP address; else ``REMOTE_ADDR`` (docs/security.md, "Client address")."""
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
