"""The database transaction as the cache sees it."""

from django.db import DEFAULT_DB_ALIAS, connections

# Set on the callbacks that caching.invalidation.schedule registers with on_commit.
MARK = "caching_work"


def has_pending_work(using: str = DEFAULT_DB_ALIAS) -> bool:
    """True inside an application transaction that has written cached rows not yet committed.

    Reads there bypass the cache: the cache does not know those writes yet (their invalidation
    waits for the commit), and a value loaded inside the transaction may be rolled back. Reads
    in a transaction that has written nothing cached use the cache as usual. The blocks a test
    case wraps around each test are not application transactions.
    """
    connection = connections[using]
    if not any(not block._from_testcase for block in connection.atomic_blocks):
        return False
    return any(getattr(callback, MARK, False) for _, callback, _ in connection.run_on_commit)
