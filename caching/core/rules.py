"""What the apps declare: their namespaces, and for each model what a write to it invalidates.
Plain data: importing this module loads no Redis client, no model and no receiver."""

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
    """Cache work for one or more writes: keys to ``drop`` and namespaces to ``advance`` (kept in
    the outbox until delivered), and keys to ``prime`` (write-through, in memory only)."""

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
        """The invalidation as the outbox stores it: a stored format, keep the field names."""
        return {
            "keys": sorted([k.namespace, k.logical] for k in self.drop),
            "namespaces": sorted(self.advance),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Changes:
        """Back from the outbox, without the namespaces no longer registered."""
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
    """Declare a namespace; a generational one (a list's) is invalidated in O(1) (docs/keys.md)."""
    if not NAMESPACE_NAME.fullmatch(name):
        raise ValueError(f"namespace {name!r} must match {NAMESPACE_NAME.pattern}")
    _namespaces[name] = Namespace(name, generational)


def add_model_rules(model: type[Model], *, tracked: Iterable[str], changes: Handler) -> None:
    """Record what writes to ``model`` invalidate (``register_model`` also connects receivers);
    a model declared again gets its tracked fields merged and every handler run."""
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
