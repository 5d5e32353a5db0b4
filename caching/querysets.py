"""A QuerySet whose signal-less writes invalidate the cache like ``save()`` and ``delete()``.

Models use it as their default manager, so ordinary ORM code needs no extra step.
``QuerySet.delete()`` needs no override: while the caching signals are connected Django has no
fast-delete path for these models and sends ``post_delete`` for every row, cascades included.
"""

from django.db import models, transaction

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
        """Insert; new rows change lists and counts. Upserts (``update_conflicts``) are treated
        as updates whose old values are unknown; ``ignore_conflicts`` rows have no pk and only
        their list and count effects are invalidated."""
        entry = registry.entry(self.model)
        if entry is None:
            return super().bulk_create(objs, *args, **kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            kind = "update" if kwargs.get("update_conflicts") else "create"
            rows = [registry.RowChange(kind, obj.pk, None, snapshot(obj, entry.tracked)) for obj in created]
            schedule(self.model, rows, self.db, write_through=False)
        return created

    bulk_create.alters_data = True
