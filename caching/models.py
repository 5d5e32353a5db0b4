"""A model base for cached models."""

from django.db import models, router, transaction


class InvalidatingModel(models.Model):
    """Saves in a transaction, so the signal adapter's read of the row's old values is locked
    until the write commits (see ``caching.invalidation.before_write``)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            super().save(*args, **kwargs)

    save.alters_data = True
