"""The outbox in the Django admin, read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from caching.outbox.models import OutboxEntry


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: what an outage left undelivered (``manage.py cache_replay`` delivers it)."""

    list_display = ("id", "created_at", "payload")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
