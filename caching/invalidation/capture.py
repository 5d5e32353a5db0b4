"""From a model write to scheduled cache work: snapshots of tracked fields, row changes, and
delivery after the transaction commits (SPEC 8.2)."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, models, transaction

from caching.core import rules
from caching.core.rules import Changes, Kind, RowChange
from caching.outbox import delivery
from caching.outbox.transaction import after_commit, mark_pending
from caching.reads import leases

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


def _locked_row(
    instance: models.Model, tracked: tuple[str, ...], using: str
) -> dict[str, Any] | None:
    """The row's tracked values as stored now, locked until the transaction ends (the lock the
    UPDATE takes anyway: docs/writes.md, "Old values come from the row itself")."""
    rows = type(instance)._base_manager.using(using).filter(pk=instance.pk)
    if transaction.get_connection(using).in_atomic_block:
        rows = rows.select_for_update(no_key=True)
    return rows.values(*tracked).first()


def before_write(instance: models.Model, using: str) -> None:
    """Before a save or delete: read what the row holds (one query by primary key), since the
    instance may have been loaded before a concurrent write."""
    found = rules.for_model(type(instance))
    if found is not None:
        before = None if instance.pk is None else _locked_row(instance, found.tracked, using)
        setattr(instance, _SNAPSHOT, before)


def saved(
    instance: models.Model, created: bool, update_fields: Iterable[str] | None, using: str
) -> None:
    found = rules.for_model(type(instance))
    if found is None:
        return
    before = None if created else getattr(instance, _SNAPSHOT, None)
    after = snapshot(instance, found.tracked)
    if before is not None and (after is None or update_fields is not None):
        # Only the saved fields changed; the others keep the row's values.
        meta = instance._meta
        saved_attnames = set()
        for name in update_fields or ():
            field = meta.get_field(name)
            # save() accepts only concrete fields in update_fields, never a reverse relation
            assert isinstance(field, models.Field)
            saved_attnames.add(field.attname)
        after = {
            name: instance.__dict__[name] if name in saved_attnames else value
            for name, value in before.items()
        }
    fields = None if update_fields is None else frozenset(update_fields)
    kind: Kind = "update" if before is not None else "create"
    schedule(type(instance), [RowChange(kind, instance.pk, before, after, fields)], using)


def deleted(instance: models.Model, using: str) -> None:
    found = rules.for_model(type(instance))
    if found is None:
        return
    before = getattr(instance, _SNAPSHOT, None) or snapshot(instance, found.tracked)
    schedule(type(instance), [RowChange("delete", instance.pk, before, None)], using)


def schedule(
    model: type[models.Model],
    rows: Iterable[RowChange],
    using: str,
    *,
    write_through: bool = True,
) -> None:
    """Compute the cache work of ``rows``, record it, and deliver it once the transaction commits.
    Call it inside the write's transaction: outside one the record commits on its own."""
    changes = rules.changes_for(model, rows)
    if not write_through:
        changes.prime.clear()
    if changes:
        entry_id = delivery.record(changes)
        # A function, not a partial: Django names a robust callback that raised (__qualname__).
        after_commit(lambda: _deliver(entry_id, changes), using)


def _deliver(entry_id: int, changes: Changes) -> None:
    """After commit: the invalidation, then (once Redis took it) the write-through."""
    if delivery.deliver(entry_id, changes):
        for key, loader in changes.prime.items():
            leases.prime(key, loader)


def _tracked_rows(
    model: type[models.Model], pks: list[Any], tracked: tuple[str, ...], using: str, *, lock: bool
) -> dict[Any, dict[str, Any]]:
    rows = model._base_manager.using(using).filter(pk__in=pks).order_by("pk")
    if lock:
        rows = rows.select_for_update(no_key=True)
    return {row.pop("pk"): row for row in rows.values("pk", *tracked)}


def _kind(before: object, after: object) -> Kind | None:
    if before is None:
        return "create" if after is not None else None
    return "update" if after is not None else "delete"


@contextmanager
def invalidating(
    model: type[models.Model], pks: Iterable[Any], *, using: str = DEFAULT_DB_ALIAS
) -> Iterator[None]:
    """Invalidate what a write the ORM cannot see (raw SQL) in the block does to rows ``pks``:
    the block runs in a transaction, between a locked read of the rows and a second one
    (docs/writes.md, "Every ORM write path")."""
    found = rules.for_model(model)
    pks = list(pks)
    if found is None or not pks:
        yield
        return
    with transaction.atomic(using=using):
        mark_pending(using)  # reads inside the block bypass the cache
        before = _tracked_rows(model, pks, found.tracked, using, lock=True)
        yield
        after = _tracked_rows(model, pks, found.tracked, using, lock=False)
        rows = []
        for pk in pks:
            kind = _kind(before.get(pk), after.get(pk))
            if kind is not None:
                rows.append(RowChange(kind, pk, before.get(pk), after.get(pk)))
        schedule(model, rows, using, write_through=False)
