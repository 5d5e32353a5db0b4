"""Rate limits counted in Redis, in fixed windows (the API's write throttle). They fail open:
while Redis cannot count (down, full, the breaker open), nothing is limited."""

from caching.core import keys
from caching.redis.policy import CacheUnavailableError, call
from caching.redis.scripts import run_script


def count_event(limit: str, ident: object, window: int) -> tuple[int, int] | None:
    """Count one event of ``ident`` against ``limit``: ``(events in the current window, seconds
    until it ends)``, or ``None`` when Redis cannot count. One round trip (the COUNT script)."""
    key = keys.rate(limit, ident)
    try:
        events, left = call(lambda r: run_script(r, "COUNT", [key], [window]), key=key)
    except CacheUnavailableError:
        return None
    return int(events), int(left)
