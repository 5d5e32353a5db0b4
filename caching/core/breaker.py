"""A circuit breaker (docs/failures.md): closed; open after ``failures_to_open()`` failed calls
in a row, failing calls fast for ``cooldown_s()``; then half-open: one call tries, and its
outcome closes or reopens it. Redis's breakers (``caching.redis.policy``) and PostgreSQL's
(``caching.database.guard``) are this one, with their own limits and what they do on a change."""

import threading
import time
from collections.abc import Callable


class Breaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(
        self, failures_to_open: Callable[[], int], cooldown_s: Callable[[], float]
    ) -> None:
        self._failures_to_open, self._cooldown_s = failures_to_open, cooldown_s
        self._lock = threading.Lock()
        self.openings = 0  # how many times it opened: what was made before the last is suspect
        self.reset()

    def reset(self) -> None:
        """Closed, its counts forgotten."""
        self.state, self.failures, self.opened_at = self.CLOSED, 0, 0.0

    def closed(self) -> bool:
        return self.state == self.CLOSED

    def cooldown_left(self) -> float:
        return self.opened_at + self._cooldown_s() - time.monotonic()

    def allow(self) -> bool:
        """Whether a call may go now (in half-open state: only the one trial)."""
        if self.state == self.CLOSED:
            return True
        with self._lock:
            if self.state == self.OPEN and self.cooldown_left() <= 0:
                self.state = self.HALF_OPEN
                return True
            return False

    def succeeded(self) -> None:
        if self.state == self.CLOSED and not self.failures:
            return
        with self._lock:
            was, self.state, self.failures = self.state, self.CLOSED, 0
            if was != self.CLOSED:
                self.changed(was, None)

    def abandoned(self) -> None:
        """A call ended without telling whether the other side answers (an exception of ours):
        a trial's place goes back to the next call after the cooldown."""
        with self._lock:
            if self.state == self.HALF_OPEN:
                self.state, self.opened_at = self.OPEN, time.monotonic()

    def failed(self, error: Exception) -> None:
        with self._lock:
            self.failures += 1
            if self.state != self.HALF_OPEN and self.failures < self._failures_to_open():
                return
            was, self.state, self.opened_at = self.state, self.OPEN, time.monotonic()
            self.openings += 1
            self.changed(was, error)
        self.opened()

    def changed(self, was: str, error: Exception | None) -> None:
        """It opened (``error``: the failure that did it; ``was``: closed, or a failed trial or a
        late failure while open, which restarts the cooldown) or closed (``error`` None). Inside
        the lock, so that gauges and logs follow the changes' order: nothing here may wait for a
        lock whose holder calls into the breaker."""

    def opened(self) -> None:
        """It opened; after the lock, for what may take such a lock."""
