"""The bounds on a web request's database calls (caching.database): the server's statement
timeout, the client's deadline on a call that gets no answer, the breaker that then fails calls
fast, and its trial; on a connection of their own to the test database."""

import time

import pytest
from django.db import DataError, connection

from caching.database import guard
from caching.database.base import DatabaseWrapper
from caching.ops import scrape
from tests.test_metrics import sample


@pytest.fixture
def bounded(db, monkeypatch):
    """A connection of its own (so the test's transaction is not the one cut), bounded with a
    statement timeout of 300 ms; the breaker's cooldown shortened to 0.5 s."""
    monkeypatch.setattr(guard, "COOLDOWN_S", 0.5)
    guard.bound_database_calls(guard.Bounds(connect_s=2, statement_ms=300))
    wrapper = DatabaseWrapper({**connection.settings_dict}, alias="guarded")
    try:
        yield wrapper
    finally:
        wrapper.close()
        guard.unbound()
        guard.BREAKER.reset()


def run(wrapper, sql):
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_a_statement_past_its_timeout_is_unavailable_and_counts(bounded):
    with pytest.raises(guard.DatabaseUnavailableError):
        run(bounded, "SELECT pg_sleep(2)")  # the server's statement_timeout (300 ms) ends it
    assert guard.BREAKER.failures == 1
    assert run(bounded, "SELECT 1") == [(1,)]  # the connection is still good
    assert guard.BREAKER.failures == 0


def test_the_deadline_closes_a_call_that_gets_no_answer_and_the_connection_goes(bounded):
    began = time.monotonic()
    with guard.quick(0.3), pytest.raises(guard.DatabaseUnavailableError, match="no answer"):
        run(bounded, "SET statement_timeout = 0; SELECT pg_sleep(3)")  # as a frozen server
    assert time.monotonic() - began < 2
    with pytest.raises(guard.DatabaseUnavailableError, match="lost"):
        run(bounded, "SELECT 1")  # the dead connection is dropped, not used
    assert run(bounded, "SELECT 1") == [(1,)]  # and the next call connects anew


def test_an_open_breaker_fails_fast_then_lets_one_trial_through(bounded):
    for _ in range(guard.FAILURES):
        with pytest.raises(guard.DatabaseUnavailableError):
            run(bounded, "SELECT pg_sleep(2)")
    assert guard.BREAKER.state == guard.Breaker.OPEN
    began = time.monotonic()
    with pytest.raises(guard.DatabaseUnavailableError, match="breaker open") as refused:
        run(bounded, "SELECT 1")
    assert time.monotonic() - began < 0.1 and refused.value.retry_after >= 1
    time.sleep(0.6)  # the cooldown: the next call is the trial; an error answered closes it
    with pytest.raises(DataError):
        run(bounded, "SELECT 1 / 0")
    assert guard.BREAKER.closed()


def test_the_trial_connects_anew_rather_than_trusting_a_kept_connection(bounded):
    """After an outage every kept connection may be dead (a restarted server): the breaker's
    trial, and every call while it is not closed, must not fail again on one of those."""
    kept = DatabaseWrapper({**connection.settings_dict}, alias="kept")
    try:
        (pid,) = run(kept, "SELECT pg_backend_pid()")[0]
        run(bounded, f"SELECT pg_terminate_backend({pid})")  # as a restart would, unseen by kept
        for _ in range(guard.FAILURES):
            with pytest.raises(guard.DatabaseUnavailableError):
                run(bounded, "SELECT pg_sleep(2)")
        time.sleep(0.6)  # the cooldown
        kept.close_if_unusable_or_obsolete()  # a request starts: the health check is due
        assert run(kept, "SELECT 1") == [(1,)]
        assert guard.BREAKER.closed()
    finally:
        kept.close()


def test_metrics_are_scraped_while_the_breaker_is_open(bounded):
    """The backlog needs the database; the rest of /metrics does not, and says the breaker is
    open (the alert DatabaseBreakerOpen reads it)."""
    for _ in range(guard.FAILURES):
        with pytest.raises(guard.DatabaseUnavailableError):
            run(bounded, "SELECT pg_sleep(2)")
    text = scrape.render().decode()
    assert sample(text, "db_breaker_open") == 1 and "cache_outbox_backlog" not in text


def test_a_connection_from_before_the_breaker_opened_is_not_reused_after_it_closed(bounded):
    """A kept connection may be dead without a word (a server failed over, its old address
    dropping packets): once the breaker has opened, none made before is used again, even after
    the trial closed it, and its health check never runs (a slow one would count as a failure)."""
    kept = DatabaseWrapper({**connection.settings_dict}, alias="kept")
    try:
        before = run(kept, "SELECT pg_backend_pid()")
        for _ in range(guard.FAILURES):
            with pytest.raises(guard.DatabaseUnavailableError):
                run(bounded, "SELECT pg_sleep(2)")
        time.sleep(0.6)  # the cooldown
        assert run(bounded, "SELECT 1") == [(1,)] and guard.BREAKER.closed()  # the trial
        kept.close_if_unusable_or_obsolete()  # a request starts: the health check is due
        assert run(kept, "SELECT pg_backend_pid()") != before  # a new connection
    finally:
        kept.close()
