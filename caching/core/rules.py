"""What the apps declare: their namespaces, and for each model what a write to it invalidates.

Plain data: importing this module loads no Redis client, no model and no receiver. Each app
registers its namespaces and, for each model, the fields whose old values decide what a write
touches (``tracked``) and a function that turns one row's change into the cache work it needs
(``Changes``). ``caching.invalidation`` builds the ``RowChange`` objects (from signals, querysets
and raw SQL) and connects the receivers (``caching.invalidation.receivers.register_model``);
``caching.outbox`` records and delivers the merged ``Changes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from caching.core.entry import Loader
from caching.core.keys import NAMESPACE_NAME, CacheKey, restore

if TYPE_CHECKING:
    from django.db.models import Model

Kind = Literal["create", "update", "delete"]


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
    """Cache work for one or more writes: keys to ``drop`` and generational namespaces to
    ``advance`` (plain data, kept in the outbox until delivered), and keys to ``prime`` at once
    (write-through, best effort, in memory only)."""

    drop: set[CacheKey] = field(default_factory=set)
    advance: set[str] = field(default_factory=set)
    prime: dict[CacheKey, Loader] = field(default_factory=dict)

    def merge(self, other: Changes) -> Changes:
        self.drop |= other.drop
        self.advance |= other.advance
        self.prime.update(other.prime)
        return self

    def __bool__(self) -> bool:
        return bool(self.drop or self.advance or self.prime)

    def payload(self) -> dict[str, list[Any]]:
        """The invalidation as JSON-ready data, as the outbox stores it (write-through is not
        part of it). The field names are a stored format: older releases' rows use them too."""
        return {
            "keys": sorted([k.namespace, k.logical] for k in self.drop),
            "namespaces": sorted(self.advance),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Changes:
        """Back from the outbox; namespaces no longer registered (a deploy removed them) are
        dropped: their keys are no longer read."""
        known = set(_namespaces)
        return cls(
            drop={restore(ns, logical) for ns, logical in payload.get("keys", ()) if ns in known},
            advance={ns for ns in payload.get("namespaces", ()) if ns in known},
        )


@dataclass(frozen=True)
class Namespace:
    name: str
    generational: bool


Handler = Callable[[RowChange], Changes]


@dataclass
class ModelRules:
    """A model's declared rules: the fields tracked before each write, and every app's handler."""

    tracked: tuple[str, ...] = ()
    handlers: list[Handler] = field(default_factory=list)


_namespaces: dict[str, Namespace] = {}
_models: dict[type[Model], ModelRules] = {}


def register_namespace(name: str, *, generational: bool = False) -> None:
    """Declare a namespace. Generational ones (lists) are invalidated in O(1) by advancing a
    counter that is part of every key; the others by deleting keys one by one."""
    if not NAMESPACE_NAME.fullmatch(name):
        raise ValueError(f"namespace {name!r} must match {NAMESPACE_NAME.pattern}")
    _namespaces[name] = Namespace(name, generational)


def add_model_rules(model: type[Model], *, tracked: Iterable[str], changes: Handler) -> None:
    """Record what writes to ``model`` invalidate (``register_model`` also connects receivers).

    Several apps may declare the same model (the posts app declares what a user's rename does
    to posts); the tracked fields are merged and every handler runs.
    """
    found = _models.setdefault(model, ModelRules())
    found.tracked = tuple(dict.fromkeys(found.tracked + tuple(tracked)))
    found.handlers.append(changes)


class UnknownNamespaceError(LookupError):
    """A name that no app registered (globs and other patterns included)."""


def require(name: str) -> Namespace:
    found = _namespaces.get(name)
    if found is None:
        known = ", ".join(namespaces())
        raise UnknownNamespaceError(f"unknown cache namespace {name!r}; known: {known}")
    return found


def namespaces() -> list[str]:
    return sorted(_namespaces)


def for_model(model: type[Model]) -> ModelRules | None:
    """The rules declared for ``model`` (or its concrete model, for a proxy)."""
    return _models.get(model._meta.concrete_model or model)


def changes_for(model: type[Model], rows: Iterable[RowChange]) -> Changes:
    found = for_model(model)
    merged = Changes()
    if found is not None:
        for row in rows:
            for handler in found.handlers:
                merged.merge(handler(row))
    return merged
