"""From a model write to scheduled cache work: snapshots of tracked fields, row changes, and
delivery after the transaction commits (SPEC 8.2)."""

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction

from caching import registry, service

_SNAPSHOT = "_caching_before"


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any] | None:
    """The tracked field values held by ``instance``; ``None`` if any is deferred (unknown)."""
    loaded = instance.__dict__
    values = {}
    for name in fields:
        if name not in loaded:
            return None
        values[name] = loaded[name]
    return values


def remember(instance: models.Model) -> None:
    """Keep the tracked values as loaded, to know later what a save moved away from."""
    entry = registry.entry(type(instance))
    if entry is not None:
        setattr(instance, _SNAPSHOT, snapshot(instance, entry.tracked))


def before_save(instance: models.Model, using: str) -> None:
    """For an instance not loaded from the database but saved over an existing row, read the
    row's tracked values first (one query; the common paths need none)."""
    entry = registry.entry(type(instance))
    if entry is None or instance.pk is None:
        return
    if instance._state.adding or getattr(instance, _SNAPSHOT, None) is None:
        row = type(instance)._base_manager.using(using).filter(pk=instance.pk).values(*entry.tracked).first()
        setattr(instance, _SNAPSHOT, row)


def saved(instance: models.Model, created: bool, using: str) -> None:
    entry = registry.entry(type(instance))
    if entry is None:
        return
    before = None if created else getattr(instance, _SNAPSHOT, None)
    after = snapshot(instance, entry.tracked)
    kind = "create" if created else "update"
    schedule(type(instance), [registry.RowChange(kind, instance.pk, before, after)], using)
    setattr(instance, _SNAPSHOT, after)


def deleted(instance: models.Model, using: str) -> None:
    entry = registry.entry(type(instance))
    if entry is None:
        return
    before = getattr(instance, _SNAPSHOT, None) or snapshot(instance, entry.tracked)
    schedule(type(instance), [registry.RowChange("delete", instance.pk, before, None)], using)


def schedule(model: type[models.Model], rows: Iterable[registry.RowChange], using: str) -> None:
    """Compute the cache work of ``rows`` now and carry it out once the transaction commits.

    Outside a transaction it runs at once; in a rolled-back one, never.
    """
    changes = registry.changes_for(model, rows)
    if changes:
        transaction.on_commit(lambda: service.deliver(changes), using=using, robust=True)

