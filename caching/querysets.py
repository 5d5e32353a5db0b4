"""A QuerySet whose signal-less writes invalidate the cache like ``save()`` and ``delete()``.

Models use it as their default manager, so ordinary ORM code needs no extra step.
``QuerySet.delete()`` needs no override: while the caching signals are connected Django has no
fast-delete path for these models and sends ``post_delete`` for every row, cascades included.
"""

from django.db import models, transaction
from django.db.models import Q

from caching import registry
from caching.invalidation import invalidating, schedule, snapshot


class InvalidatingQuerySet(models.QuerySet):
    def update(self, **kwargs) -> int:
        """Update the matching rows (locked, so the set updated is the set invalidated)."""
        if registry.entry(self.model) is None:
            return super().update(**kwargs)
        pks = list(self.values_list("pk", flat=True))
        with invalidating(self.model, pks, using=self.db):
            return super(InvalidatingQuerySet, self.filter(pk__in=pks)).update(**kwargs)

    update.alters_data = True

    def bulk_update(self, objs, fields, batch_size=None) -> int:
        objs = list(objs)
        with invalidating(self.model, [obj.pk for obj in objs], using=self.db):
            return super().bulk_update(objs, fields, batch_size=batch_size)

    bulk_update.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        """Insert; new rows change lists and counts. For an upsert (``update_conflicts``) the
        rows it will overwrite are locked and read first, by ``unique_fields``, so their old
        values are invalidated too; ``ignore_conflicts`` rows have no pk and only their list and
        count effects are invalidated."""
        entry = registry.entry(self.model)
        if entry is None:
            return super().bulk_create(objs, *args, **kwargs)
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            unique = self._attnames(kwargs.get("unique_fields") or ()) if kwargs.get("update_conflicts") else []
            existing = self._locked_by(unique, objs, entry.tracked) if unique else {}
            created = super().bulk_create(objs, *args, **kwargs)
            rows = []
            for obj in created:
                before = existing.get(tuple(getattr(obj, name) for name in unique)) if unique else None
                kind = "update" if before is not None else "create"
                rows.append(registry.RowChange(kind, obj.pk, before, snapshot(obj, entry.tracked)))
            schedule(self.model, rows, self.db, write_through=False)
        return created

    def _attnames(self, fields) -> list[str]:
        meta = self.model._meta
        return [meta.pk.attname if name == "pk" else meta.get_field(name).attname for name in fields]

    def _locked_by(self, unique: list[str], objs: list, tracked: tuple[str, ...]) -> dict:
        """The rows an upsert of ``objs`` will overwrite, locked, keyed by their unique values."""
        match = Q()
        for obj in objs:
            match |= Q(**{name: getattr(obj, name) for name in unique})
        rows = self.model._base_manager.using(self.db).filter(match).select_for_update(no_key=True)
        found = {}
        for row in rows.values(*dict.fromkeys([*unique, *tracked])):
            found[tuple(row[name] for name in unique)] = {name: row[name] for name in tracked}
        return found

    bulk_create.alters_data = True
