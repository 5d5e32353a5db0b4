"""What the cache does in Redis, through the backend: reads with leases, a write's
invalidation and write-through, clears, counters, memory, rate limits."""
