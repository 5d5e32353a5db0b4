"""Reads: ``get_or_load``, the entry point, and the lease protocol under it (near cache, then
Redis, then the database; write-through fills too)."""
