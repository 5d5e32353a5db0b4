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
            self.show()
        if was != self.CLOSED:
            self.on_close()

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
            was, failures = self.state, self.failures
            self.state, self.opened_at = self.OPEN, time.monotonic()
            self.show()
        self.on_open(error, was == self.CLOSED, failures)

    def show(self) -> None:
        """Show whether it is closed (a gauge), inside the lock on every change between closed
        and not, so that two changes cannot leave it showing the first one's state."""

    # The hooks below run after the lock is released: what they call may take other locks whose
    # holders call into the breaker (the database watchdog holds its condition while it counts a
    # slow call as failed).
    def on_open(self, error: Exception, newly: bool, failures: int) -> None:
        """It opened: ``newly`` from closed; else a failed trial, or a late failure while open
        (which restarts the cooldown). ``failures``: the count that opened it."""

    def on_close(self) -> None:
        """It closed."""
