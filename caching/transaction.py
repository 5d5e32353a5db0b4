"""The database transaction as the cache sees it."""

from django.db import DEFAULT_DB_ALIAS, connections


def in_transaction(using: str = DEFAULT_DB_ALIAS) -> bool:
    """True inside an ``atomic`` block opened by application code.

    Such a block may hold uncommitted writes whose invalidation waits for the commit, so reads
    inside it bypass the cache: they see the transaction's own writes, and never store data
    that a rollback could take back. The blocks a test case wraps around each test don't count.
    """
    connection = connections[using]
    return any(not block._from_testcase for block in connection.atomic_blocks)
