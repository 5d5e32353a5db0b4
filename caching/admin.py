from django.contrib import admin

from caching.models import OutboxEntry


@admin.register(OutboxEntry)
class OutboxEntryAdmin(admin.ModelAdmin):
    """Read-only: what an outage left undelivered (``manage.py cache_replay`` delivers it)."""

    list_display = ("id", "created_at", "payload")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
