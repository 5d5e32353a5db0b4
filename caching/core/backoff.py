"""Polling with a doubling delay: the wait for another's lease, the wait for another's delivery."""

import time
from collections.abc import Iterator


def polls(seconds: float, *, first: float = 0.002, longest: float = 0.05) -> Iterator[None]:
    """Sleep ``first``, then twice as long each time up to ``longest``, yielding after each
    sleep, until ``seconds`` from now (the last sleep ends there)."""
    deadline = time.monotonic() + seconds
    delay = first
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(delay, left))
        delay = min(delay * 2, longest)
        yield
