"""The outbox's rows."""

from django.db import models


class OutboxEntry(models.Model):
    """An invalidation not yet delivered to Redis, written in its write's transaction."""

    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "caching"
        ordering = ["id"]
        verbose_name = "undelivered invalidation"

    def __str__(self) -> str:
        return f"invalidation #{self.pk}"
