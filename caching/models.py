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


class OutboxEntry(models.Model):
    """An invalidation not yet delivered to Redis.

    Written in the same transaction as the data change it belongs to, deleted once Redis has
    taken it; what is left after an outage is replayed (``caching.outbox``).
    """

    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "undelivered invalidation"

    def __str__(self) -> str:
        return f"invalidation #{self.pk}"
