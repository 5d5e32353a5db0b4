"""The cache service layer. Apps use ``caching.service`` to read and ``caching.registry`` to
declare what their writes invalidate; nothing outside this package talks to Redis.

Public call for writes the ORM cannot see (raw SQL): ``caching.invalidating(model, pks)``.
"""


def invalidating(model, pks, *, using="default"):
    """See ``caching.invalidation.invalidating``."""
    from caching.invalidation import invalidating as _invalidating

    return _invalidating(model, pks, using=using)
