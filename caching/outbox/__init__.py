"""The invalidation outbox: every write's invalidation recorded in its transaction, applied to
Redis after commit (UNLINK, BUMP), replayed when Redis could not take it, and checked by a
doubting reader before it trusts the cache (SPEC 8.6)."""
