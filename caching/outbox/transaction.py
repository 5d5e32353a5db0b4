"""The database transaction as the cache sees it: the one module that reads Django's
transaction internals (``atomic_blocks``, ``run_on_commit``, a test case's own blocks)."""

from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

# Set on the callbacks ``after_commit`` registers, so pending cache work can be recognised.
MARK = "caching_work"


def after_commit(work: Callable[[], Any], using: str) -> None:
    """Run ``work`` once the current transaction commits (never if it rolls back), marked as
    the cache work of a write, so reads in the transaction bypass the cache until then."""
    setattr(work, MARK, True)
    transaction.on_commit(work, using=using, robust=True)


def has_pending_work(using: str = DEFAULT_DB_ALIAS) -> bool:
    """True inside an application transaction that has written cached rows not yet committed:
    reads there bypass the cache (docs/writes.md, "Correctness under concurrency")."""
    if not in_application_transaction(using):
        return False
    pending = connections[using].run_on_commit
    # (savepoint ids, callback, robust) since Django 5.0; django-stubs still declares 2-tuples
    return any(getattr(callback, MARK, False) for _, callback, _ in pending)  # type: ignore[misc]


def in_application_transaction(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Inside an ``atomic`` block opened by application code (not by a test case)."""
    # _from_testcase: Django's private flag (set by TestCase), not in django-stubs
    return any(not block._from_testcase for block in connections[using].atomic_blocks)  # type: ignore[attr-defined]


def mark_pending(using: str = DEFAULT_DB_ALIAS) -> None:
    """Declare cache work pending in the current transaction before it is scheduled."""
    after_commit(_pending, using)


def _pending() -> None:
    """Marks a transaction as holding uncommitted cached writes; does nothing on commit."""
