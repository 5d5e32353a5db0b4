"""The invalidation outbox: no invalidation is lost while Redis is slow or down (SPEC 8.6)."""
