"""A model base for cached models."""

from typing import Any

from django.db import models, router, transaction


class InvalidatingModel(models.Model):
    """Saves in a transaction, so the receiver's read of the row's old values stays locked
    until the write commits (``caching.invalidation.capture.before_write``)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            super().save(*args, **kwargs)

    save.alters_data = True  # type: ignore[attr-defined]
