"""The database transaction as the cache sees it."""

from django.db import DEFAULT_DB_ALIAS, connections, transaction

# Set on the callbacks that caching.invalidation.schedule registers with on_commit.
MARK = "caching_work"


def has_pending_work(using: str = DEFAULT_DB_ALIAS) -> bool:
    """True inside an application transaction that has written cached rows not yet committed.

    Reads there bypass the cache: the cache does not know those writes yet (their invalidation
    waits for the commit), and a value loaded inside the transaction may be rolled back. Reads
    in a transaction that has written nothing cached use the cache as usual. The blocks a test
    case wraps around each test are not application transactions.
    """
    if not in_application_transaction(using):
        return False
    return any(getattr(callback, MARK, False) for _, callback, _ in connections[using].run_on_commit)


def in_application_transaction(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Inside an ``atomic`` block opened by application code (not by a test case)."""
    return any(not block._from_testcase for block in connections[using].atomic_blocks)


def mark_pending(using: str = DEFAULT_DB_ALIAS) -> None:
    """Declare cache work pending in the current transaction before it is scheduled."""
    transaction.on_commit(_pending, using=using)


def _pending() -> None:
    """Marks a transaction as holding uncommitted cached writes; does nothing on commit."""


setattr(_pending, MARK, True)
