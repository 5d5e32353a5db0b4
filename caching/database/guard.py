"""Bounds on every PostgreSQL call of a web request (docs/failures.md, "When PostgreSQL fails"):
the server's own statement and lock timeouts, a client-side deadline that closes the socket of a
call a frozen server never answers, and a breaker that fails fast once calls keep failing.
``DatabaseUnavailableError`` is what a request gets then; the API answers it with a 503."""

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError

from caching.core import breaker as breakers
from caching.core import metrics
from caching.core.state import STATE

log = logging.getLogger("caching")

FAILURES = 3  # failed calls in a row (a call slower than SLOW_S counts) that open the breaker
COOLDOWN_S = 5.0  # how long it stays open before one call may try again
SLOW_S = 1.0  # a call this slow counts as failed: this service's queries take milliseconds
MARGIN_S = 1.0  # the client's deadline is the statement timeout and this: the server's fires first


class DatabaseUnavailableError(OperationalError):
    """PostgreSQL is unreachable, timed out, or behind its open breaker: answered with a 503."""

    def __init__(self, message: str, retry_after: float = COOLDOWN_S) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Bounds:
    connect_s: int
    statement_ms: int


class _Bounded:
    """The bounds in force in this process; ``None``: none (commands, migrations, the tests'
    own connections), as only a web server turns them on (``bound_database_calls``)."""

    def __init__(self) -> None:
        self.bounds: Bounds | None = None


BOUNDED = _Bounded()


def bound_database_calls(bounds: Bounds | None = None) -> None:
    """Bound this process's database calls from now on, by ``bounds`` or the settings'
    ``DB_CONNECT_TIMEOUT_S`` and ``DB_STATEMENT_TIMEOUT_MS`` (the web server's entry point)."""
    bounds = bounds or Bounds(settings.DB_CONNECT_TIMEOUT_S, settings.DB_STATEMENT_TIMEOUT_MS)
    # 0 would mean no bound at all to libpq and PostgreSQL; libpq takes 2 s at least.
    if bounds.connect_s < 2 or bounds.statement_ms < 1:
        raise ImproperlyConfigured(
            f"DB_CONNECT_TIMEOUT_S={bounds.connect_s} (2 at least) and DB_STATEMENT_TIMEOUT_MS="
            f"{bounds.statement_ms} (1 at least) must bound a web request's database calls"
        )
    BOUNDED.bounds = bounds


def unbound() -> None:
    BOUNDED.bounds = None


class Breaker(breakers.Breaker):
    """The process's breaker for PostgreSQL; ``admit`` raises where a call may not go."""

    def __init__(self) -> None:
        super().__init__(lambda: FAILURES, lambda: COOLDOWN_S)

    def reset(self) -> None:
        super().reset()
        self.show()

    def admit(self) -> None:
        """Raise ``DatabaseUnavailableError`` unless a call may go to PostgreSQL now."""
        if not self.allow():
            metrics.DB_UNAVAILABLE.labels("breaker").inc()
            raise DatabaseUnavailableError("database breaker open", self.cooldown_left())

    def show(self) -> None:
        metrics.DB_BREAKER_OPEN.set(int(not self.closed()))

    def changed(self, was: str, error: Exception | None) -> None:
        self.show()
        if error is None:
            log.warning(
                "database recovered", extra={"event": "database_recovered", "breaker": "closed"}
            )
        elif was == self.CLOSED:
            log.error(
                "database unavailable: failing fast",
                extra={
                    "event": "database_unavailable",
                    "breaker": "open",
                    "failures": self.failures,
                    "error": str(error),
                },
            )

    def opened(self) -> None:
        # The watchdog holds its condition while it counts a slow call as failed: after the lock.
        WATCHDOG.wake()  # fail the calls in flight now


BREAKER = Breaker()
STATE.on_reset(BREAKER.reset)


@dataclass(slots=True)
class _Call:
    # A copy of the connection's socket, made at the call's start: shutting it down reaches
    # that socket even if psycopg closed its own number meanwhile (and the kernel reused it).
    sock: socket.socket
    slow_at: float
    deadline: float
    slow: bool = False


class _Watchdog:
    """Watches every bounded call in flight. A call still running after ``SLOW_S`` counts as a
    failure (a frozen server never answers, and every thread would wait for it); one still
    running at its deadline, or while the breaker is open, has its socket closed, so the call
    fails at once and its thread is free."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: dict[int, _Call] = {}
        self._fired: set[int] = set()
        self._tokens = 0
        self._thread: threading.Thread | None = None

    def watch(self, fd: int, seconds: float) -> int:
        now = time.monotonic()
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            self._tokens += 1
            sock = socket.socket(fileno=os.dup(fd))
            self._calls[self._tokens] = _Call(sock, now + min(SLOW_S, seconds), now + seconds)
            self._cond.notify()
            return self._tokens

    def unwatch(self, token: int) -> bool:
        """Stop watching; whether the watchdog closed the call's socket."""
        with self._cond:
            call = self._calls.pop(token, None)
            if call is not None:
                call.sock.close()
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def wake(self) -> None:
        """The breaker opened: fail the calls in flight now."""
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for call in self._calls.values():
                    if not call.slow and call.slow_at <= now:
                        call.slow = True
                        metrics.DB_UNAVAILABLE.labels("slow").inc()
                        BREAKER.failed(TimeoutError(f"no answer within {SLOW_S:g} s"))
                shed = BREAKER.state == Breaker.OPEN
                for token, call in list(self._calls.items()):
                    if shed or call.deadline <= now:
                        del self._calls[token]
                        self._fired.add(token)
                        _shut(call.sock)  # the call's socket is dead: the call fails now
                due = [c.deadline if c.slow else c.slow_at for c in self._calls.values()]
                self._cond.wait(max(min(due) - now, 0.001) if due else None)


def _shut(sock: socket.socket) -> None:
    with sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the server closed it first


WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=lambda: WATCHDOG.__init__())  # type: ignore[misc]


@contextmanager
def deadline(connection: Any, seconds: float) -> Iterator[None]:
    """Run the block's call on psycopg ``connection`` for at most ``seconds``; past that it
    raises ``DatabaseUnavailableError``. A closed connection is not watched: its call fails."""
    try:
        fd = connection.fileno()
    except Exception:  # psycopg's: the connection is closed or broken
        yield
        return
    token = WATCHDOG.watch(fd, seconds)
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        if WATCHDOG.unwatch(token):
            metrics.DB_UNAVAILABLE.labels("deadline").inc()
            raise DatabaseUnavailableError(f"no answer within {seconds:g} s") from error
        raise
    else:
        WATCHDOG.unwatch(token)


_limits = threading.local()


@contextmanager
def quick(seconds: float) -> Iterator[None]:
    """The block's calls (in this thread) get ``seconds`` at most, the statement timeout's
    deadline notwithstanding: for a query a cached read waits on (the outbox check)."""
    _limits.seconds = seconds
    try:
        yield
    finally:
        _limits.seconds = None


def statement_deadline_s() -> float:
    limit: float | None = getattr(_limits, "seconds", None)
    if limit is not None:
        return limit
    bounds = BOUNDED.bounds
    return (bounds.statement_ms / 1000 if bounds else 0) + MARGIN_S


def counts_as_unavailable(error: Exception) -> bool:
    """A failure of the server or the way to it (not of the statement: a serialization failure,
    a deadlock, a constraint are answers)."""
    cause = error.__cause__ or error
    return isinstance(error, DatabaseUnavailableError) or (
        isinstance(error, (OperationalError, InterfaceError))
        and type(cause).__name__ not in _ANSWERS
        and not any(base.__name__ in _ANSWERS for base in type(cause).__mro__)
    )


# psycopg's OperationalError subclasses that are the server's answer about the statement.
_ANSWERS = {"TransactionRollbackError", "SerializationFailure", "DeadlockDetected"}
