"""A QuerySet whose signal-less writes invalidate the cache like ``save()`` and ``delete()``
(docs/writes.md, "Every ORM write path"; ``delete()`` sends its signals already)."""

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import Q

from caching.core import rules
from caching.core.rules import Kind, RowChange
from caching.invalidation.capture import invalidating, schedule, snapshot


class InvalidatingQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def update(self, **kwargs: Any) -> int:
        """Update the matching rows (locked, so the set updated is the set invalidated)."""
        if rules.for_model(self.model) is None:
            return super().update(**kwargs)
        pks = list(self.values_list("pk", flat=True))
        with invalidating(self.model, pks, using=self.db):
            return super(InvalidatingQuerySet, self.filter(pk__in=pks)).update(**kwargs)

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(
        self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs = list(objs)
        with invalidating(self.model, [obj.pk for obj in objs], using=self.db):
            return super().bulk_update(objs, fields, batch_size=batch_size)

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        """Insert; for an upsert (``update_conflicts``) the rows it will overwrite are locked and
        read first, by ``unique_fields``, so their old values are invalidated too."""
        found = rules.for_model(self.model)
        if found is None:
            return super().bulk_create(objs, *args, **kwargs)
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            upsert = kwargs.get("update_conflicts")
            unique = self._attnames(kwargs.get("unique_fields") or ()) if upsert else []
            existing = self._locked_by(unique, objs, found.tracked) if unique else {}
            created = super().bulk_create(objs, *args, **kwargs)
            rows = []
            for obj in created:
                key = tuple(getattr(obj, name) for name in unique)
                before = existing.get(key) if unique else None
                kind: Kind = "update" if before is not None else "create"
                rows.append(RowChange(kind, obj.pk, before, snapshot(obj, found.tracked)))
            schedule(self.model, rows, self.db, write_through=False)
        return created

    def _attnames(self, fields: Iterable[str]) -> list[str]:
        meta = self.model._meta
        return [
            meta.pk.attname if name == "pk" else meta.get_field(name).attname for name in fields
        ]

    def _locked_by(
        self, unique: list[str], objs: list[Any], tracked: tuple[str, ...]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """The rows an upsert of ``objs`` will overwrite, locked, keyed by their unique values."""
        match = Q()
        for obj in objs:
            match |= Q(**{name: getattr(obj, name) for name in unique})
        rows = self.model._base_manager.using(self.db).filter(match).select_for_update(no_key=True)
        locked = {}
        for row in rows.values(*dict.fromkeys([*unique, *tracked])):
            locked[tuple(row[name] for name in unique)] = {name: row[name] for name in tracked}
        return locked

    bulk_create.alters_data = True  # type: ignore[attr-defined]
