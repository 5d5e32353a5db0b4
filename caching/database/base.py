"""Django's PostgreSQL backend, with every call bounded while ``guard.BOUNDED`` holds bounds:
the connect timeout and the server's statement and lock timeouts in the connection's
parameters, the client's deadline around each statement, commit, rollback and health check,
and the breaker before each one."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError
from django.db.backends.postgresql import base

from caching.core import metrics
from caching.database import guard

T = TypeVar("T")


class DatabaseWrapper(base.DatabaseWrapper):
    # The breaker's openings when the connection was made (-1: made unbounded). One made before
    # the last opening is dropped: the server it reached failed, or its address may be dead.
    made_in = -1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute_wrappers.append(_bounded_execute)

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        bounds = guard.BOUNDED.bounds
        if bounds is not None:
            params["connect_timeout"] = bounds.connect_s
            ms = bounds.statement_ms
            # The time zone too: else Django sets it on a raw cursor, outside every bound.
            timeouts = f"-c statement_timeout={ms} -c lock_timeout={ms}"
            if self.timezone_name:
                timeouts += f" -c TimeZone={self.timezone_name}"
            params["options"] = f"{params.get('options') or ''} {timeouts}".strip()
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if guard.BOUNDED.bounds is None:
            return super().get_new_connection(conn_params)
        guard.BREAKER.admit()
        made_in = guard.BREAKER.openings
        try:
            connection = super().get_new_connection(conn_params)
        except Exception as error:  # psycopg's: not yet Django's
            guard.BREAKER.failed(error)
            metrics.DB_UNAVAILABLE.labels("connect").inc()
            raise guard.DatabaseUnavailableError(f"cannot connect: {error}") from error
        except BaseException:
            guard.BREAKER.abandoned()
            raise
        guard.BREAKER.succeeded()
        self.made_in = made_in
        return connection

    # COMMIT and ROLLBACK go to the server outside the execute wrappers: bounded the same way (a
    # rollback refused by the open breaker has the transaction's connection closed instead).
    def _commit(self) -> None:
        _bounded(self, super()._commit)  # type: ignore[misc]  # not in django-stubs

    def _rollback(self) -> None:
        _bounded(self, super()._rollback)  # type: ignore[misc]  # not in django-stubs

    def create_cursor(self, name: str | None = None) -> Any:
        """A connection the watchdog closed (or the server dropped) fails as unavailable, and
        goes: the next call connects anew, through the breaker."""
        if guard.BOUNDED.bounds is not None and self.connection and self.connection.closed:
            self.close()
            raise guard.DatabaseUnavailableError("the connection to the database was lost")
        return super().create_cursor(name)

    def is_usable(self) -> bool:
        """The health check Django runs on a kept connection before a request uses it (a raw
        ``SELECT 1``, outside the execute wrappers): bounded by the connect timeout. While the
        breaker is not closed, or once it has opened since the connection was made, the
        connection is not trusted (the server it reached failed or restarted, or its packets
        are dropped, and a slow check would count against the breaker): it goes without a
        check, and the next call connects anew, failing fast or as the trial."""
        bounds = guard.BOUNDED.bounds
        if bounds is None or self.connection is None:
            return bool(super().is_usable())
        if not guard.BREAKER.closed() or self.made_in != guard.BREAKER.openings:
            return False
        try:
            with guard.deadline(self.connection, bounds.connect_s):
                return bool(super().is_usable())
        except guard.DatabaseUnavailableError:
            return False


def _bounded_execute(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    return _bounded(context["connection"], lambda: execute(sql, params, many, context))


def _bounded(wrapper: DatabaseWrapper, call: Callable[[], T]) -> T:
    """``call`` on ``wrapper``'s connection under the breaker and the client's deadline; a
    failure for want of the server is ``DatabaseUnavailableError``."""
    if guard.BOUNDED.bounds is None:
        return call()
    guard.BREAKER.admit()
    try:
        with guard.deadline(wrapper.connection, guard.statement_deadline_s()):
            result = call()
    except DatabaseError as error:
        if not guard.counts_as_unavailable(error):
            guard.BREAKER.succeeded()  # the server answered (a constraint, a deadlock, ...)
            raise
        guard.BREAKER.failed(error)
        if isinstance(error, guard.DatabaseUnavailableError):
            raise
        metrics.DB_UNAVAILABLE.labels("failed").inc()
        raise guard.DatabaseUnavailableError(str(error)) from error
    except BaseException:
        guard.BREAKER.abandoned()  # no word from the server: a trial is tried again later
        raise
    guard.BREAKER.succeeded()
    return result
