"""What a change to a model invalidates, declared by the apps that own the models.

``caching`` imports no app. Each app registers its namespaces and, for each model, the fields
whose old values decide what a write touches (``tracked``) and a function that turns one row's
change into the cache work it needs (``Changes``). The signal adapters and the queryset methods
build ``RowChange`` objects; ``caching.outbox`` records and delivers the merged ``Changes``.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import models

from caching.keys import NAMESPACE_NAME, CacheKey, restore

Kind = Literal["create", "update", "delete"]
Loader = Callable[[], Any]


@dataclass(frozen=True)
class RowChange:
    """One row written. ``before``/``after`` hold the tracked fields; ``before`` is ``None`` for
    a create or when the old values are unknown, ``after`` is ``None`` for a delete.
    ``fields`` names the fields a ``save(update_fields=...)`` wrote (``None``: all of them)."""

    kind: Kind
    pk: Any
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    fields: frozenset[str] | None = None


@dataclass
class Changes:
    """Cache work for one or more writes: keys to drop and generational namespaces to advance
    (plain data, kept in the outbox until delivered), and keys to fill at once (write-through,
    best effort, in memory only)."""

    keys: set[CacheKey] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    primes: dict[CacheKey, Loader] = field(default_factory=dict)

    def merge(self, other: "Changes") -> "Changes":
        self.keys |= other.keys
        self.namespaces |= other.namespaces
        self.primes.update(other.primes)
        return self

    def __bool__(self) -> bool:
        return bool(self.keys or self.namespaces or self.primes)

    def payload(self) -> dict:
        """The invalidation as JSON-ready data (write-through is not part of it)."""
        return {"keys": sorted([k.namespace, k.logical] for k in self.keys), "namespaces": sorted(self.namespaces)}

    @classmethod
    def from_payload(cls, payload: dict) -> "Changes":
        """Back from the outbox; namespaces no longer registered (a deploy removed them) are
        dropped: their keys are no longer read."""
        known = set(_namespaces)
        return cls(
            keys={restore(ns, logical) for ns, logical in payload.get("keys", ()) if ns in known},
            namespaces={ns for ns in payload.get("namespaces", ()) if ns in known},
        )


@dataclass(frozen=True)
class Namespace:
    name: str
    generational: bool


@dataclass
class ModelEntry:
    tracked: tuple[str, ...] = ()
    handlers: list[Callable[[RowChange], Changes]] = field(default_factory=list)


_namespaces: dict[str, Namespace] = {}
_models: dict[type[models.Model], ModelEntry] = {}


def register_namespace(name: str, *, generational: bool = False) -> None:
    """Declare a namespace. Generational ones (lists) are invalidated in O(1) by advancing a
    counter that is part of every key; the others by deleting keys one by one."""
    if not NAMESPACE_NAME.fullmatch(name):
        raise ValueError(f"namespace {name!r} must match {NAMESPACE_NAME.pattern}")
    _namespaces[name] = Namespace(name, generational)


def register_model(
    model: type[models.Model], *, tracked: Iterable[str], changes: Callable[[RowChange], Changes]
) -> None:
    """Declare what writes to ``model`` invalidate and connect its signal adapters.

    Several apps may register the same model (the posts app declares what a user's rename does
    to posts); the tracked fields are merged and every handler runs.
    """
    from caching import signals

    found = _models.setdefault(model, ModelEntry())
    found.tracked = tuple(dict.fromkeys(found.tracked + tuple(tracked)))
    found.handlers.append(changes)
    signals.connect(model)


class UnknownNamespace(LookupError):
    """A name that no app registered (globs and other patterns included)."""


def require(name: str) -> Namespace:
    found = _namespaces.get(name)
    if found is None:
        raise UnknownNamespace(f"unknown cache namespace {name!r}; known: {', '.join(namespaces())}")
    return found


def namespaces() -> list[str]:
    return sorted(_namespaces)


def entry(model: type[models.Model]) -> ModelEntry | None:
    return _models.get(model._meta.concrete_model)


def changes_for(model: type[models.Model], rows: Iterable[RowChange]) -> Changes:
    found = entry(model)
    merged = Changes()
    if found is not None:
        for row in rows:
            for handler in found.handlers:
                merged.merge(handler(row))
    return merged
