"""The invalidation outbox: every write's invalidation recorded in its transaction, applied to
Redis after commit (UNLINK, BUMP), replayed when Redis could not take it (SPEC 8.6)."""
