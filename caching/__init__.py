"""The cache service layer. Apps use ``caching.service`` to read and ``caching.registry`` to
declare what their writes invalidate; nothing outside this package talks to Redis."""
