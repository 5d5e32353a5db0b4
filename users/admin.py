from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied

from users.models import User


def _protected(request, obj) -> bool:
    """Only a superuser changes or deletes another staff or superuser account (SPEC 10.5)."""
    return (
        obj is not None
        and obj.pk != request.user.pk
        and (obj.is_staff or obj.is_superuser)
        and not request.user.is_superuser
    )


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Profile", {"fields": ("display_name", "bio")}),)
    list_display = ("username", "email", "display_name", "is_staff")
    search_fields = ("username", "email", "display_name")

    def get_readonly_fields(self, request, obj=None):
        """Only a superuser grants staff status, superuser status, groups or permissions (to
        anyone, themself included)."""
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_staff", "is_superuser", "groups", "user_permissions")

    def has_change_permission(self, request, obj=None) -> bool:
        return not _protected(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not _protected(request, obj) and super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        """Only a superuser sets another user's password."""
        user = self.get_object(request, unquote(id))
        if user is not None and user.pk != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)
