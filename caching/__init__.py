"""The cache service layer's facade: the apps import from here only (docs/architecture.md).
Names load on first use, so importing a part of the layer (``caching.core.rules``, as the apps'
declarations do at app loading) loads neither Redis nor a model; the imports below, read for
types, are also the run-time map from each name to its module."""

import ast
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caching.core.entry import BYPASS as BYPASS
    from caching.core.entry import HIT as HIT
    from caching.core.entry import MISS as MISS
    from caching.core.entry import STALE as STALE
    from caching.core.entry import Entry as Entry
    from caching.core.entry import Result as Result
    from caching.core.entry import etag as etag
    from caching.core.keys import CacheKey as CacheKey
    from caching.core.keys import detail_key as detail_key
    from caching.core.keys import page_key as page_key
    from caching.core.keys import secret_key as secret_key
    from caching.core.rules import Changes as Changes
    from caching.core.rules import RowChange as RowChange
    from caching.core.rules import register_namespace as register_namespace
    from caching.core.state import STATE as STATE
    from caching.database.guard import DatabaseUnavailableError as DatabaseUnavailableError
    from caching.database.guard import bound_database_calls as bound_database_calls
    from caching.invalidation.capture import invalidating as invalidating
    from caching.invalidation.models import InvalidatingModel as InvalidatingModel
    from caching.invalidation.querysets import InvalidatingQuerySet as InvalidatingQuerySet
    from caching.invalidation.receivers import register_model as register_model
    from caching.ops.memory import cache_state as cache_state
    from caching.outbox.delivery import outbox_backlog as outbox_backlog
    from caching.reads.get_or_load import get_or_load as get_or_load
    from caching.reads.get_or_load import outbox_unchecked as outbox_unchecked
    from caching.redis.policy import CacheUnavailableError as CacheUnavailableError
    from caching.redis.ratelimit import count_event as count_event


def _exports() -> dict[str, tuple[str, str]]:
    """Each name -> (module, attribute), from the imports above."""
    (block,) = [
        node for node in ast.parse(Path(__file__).read_text()).body if isinstance(node, ast.If)
    ]
    return {
        alias.asname or alias.name: (str(node.module), alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


_EXPORTS = _exports()
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 (built from the imports above)


def __getattr__(name: str) -> Any:
    """Load an exported name's module on first use (PEP 562) and keep the name here."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'caching' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
