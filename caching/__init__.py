"""The cache service layer. The apps import what they need from here, and nothing else from
this package; ``docs/architecture.md`` draws the layers behind it.

Names are loaded on first use, so that importing a part of the layer (``caching.rules``, as
the apps' cache declarations do at app loading) loads neither Redis nor a model.

Reads: ``get_or_load(key, loader) -> Result`` around a selector that returns an ``Entry``;
keys from ``detail_key`` and ``page_key``. Declarations: ``register_namespace``,
``register_model`` with a function from ``RowChange`` to ``Changes``. Models:
``InvalidatingModel`` and ``InvalidatingQuerySet``. Writes the ORM cannot see (raw SQL):
``with caching.invalidating(model, pks): ...``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caching.backend.policy import CacheUnavailable
    from caching.entry import BYPASS, HIT, MISS, Entry, Result, etag
    from caching.invalidation.capture import invalidating
    from caching.invalidation.models import InvalidatingModel
    from caching.invalidation.querysets import InvalidatingQuerySet
    from caching.invalidation.receivers import register_model
    from caching.keys import CacheKey
    from caching.keys import detail as detail_key
    from caching.keys import page as page_key
    from caching.keys import secret as secret_key
    from caching.outbox.delivery import backlog as outbox_backlog
    from caching.rules import Changes, RowChange, register_namespace
    from caching.service import get_or_load
    from caching.store.memory import cache_state
    from caching.store.ratelimit import count as count_event

# name -> (module, attribute)
_EXPORTS = {
    "get_or_load": ("caching.service", "get_or_load"),
    "Result": ("caching.entry", "Result"),
    "Entry": ("caching.entry", "Entry"),
    "etag": ("caching.entry", "etag"),
    "HIT": ("caching.entry", "HIT"),
    "MISS": ("caching.entry", "MISS"),
    "BYPASS": ("caching.entry", "BYPASS"),
    "CacheKey": ("caching.keys", "CacheKey"),
    "detail_key": ("caching.keys", "detail"),
    "page_key": ("caching.keys", "page"),
    "secret_key": ("caching.keys", "secret"),
    "register_namespace": ("caching.rules", "register_namespace"),
    "Changes": ("caching.rules", "Changes"),
    "RowChange": ("caching.rules", "RowChange"),
    "register_model": ("caching.invalidation.receivers", "register_model"),
    "invalidating": ("caching.invalidation.capture", "invalidating"),
    "InvalidatingModel": ("caching.invalidation.models", "InvalidatingModel"),
    "InvalidatingQuerySet": ("caching.invalidation.querysets", "InvalidatingQuerySet"),
    "CacheUnavailable": ("caching.backend.policy", "CacheUnavailable"),
    "cache_state": ("caching.store.memory", "cache_state"),
    "count_event": ("caching.store.ratelimit", "count"),
    "outbox_backlog": ("caching.outbox.delivery", "backlog"),
}
__all__ = [
    "BYPASS",
    "CacheKey",
    "CacheUnavailable",
    "Changes",
    "Entry",
    "HIT",
    "InvalidatingModel",
    "InvalidatingQuerySet",
    "MISS",
    "Result",
    "RowChange",
    "cache_state",
    "count_event",
    "detail_key",
    "etag",
    "get_or_load",
    "invalidating",
    "outbox_backlog",
    "page_key",
    "register_model",
    "register_namespace",
    "secret_key",
]


def __getattr__(name: str) -> Any:
    """Load an exported name's module on first use (PEP 562) and keep the name here."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'caching' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value
