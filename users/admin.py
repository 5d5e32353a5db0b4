from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from users.models import User

if TYPE_CHECKING:
    _UserAdmin = BaseUserAdmin[User]
else:  # Django's admin classes take no type argument at run time
    _UserAdmin = BaseUserAdmin


def _protected(request: HttpRequest, obj: User | None) -> bool:
    """Only a superuser changes or deletes another staff or superuser account (SPEC 10.5)."""
    guarded = obj is not None and obj.pk != request.user.pk and (obj.is_staff or obj.is_superuser)
    return guarded and not request.user.is_superuser


@admin.register(User)
class UserAdmin(_UserAdmin):
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Profile", {"fields": ("display_name", "bio")}))
    list_display = ("username", "email", "display_name", "is_staff")
    search_fields = ("username", "email", "display_name")

    def get_readonly_fields(
        self, request: HttpRequest, obj: User | None = None
    ) -> list[str] | tuple[str, ...]:
        """Only a superuser grants staff or superuser status, groups or permissions (to anyone)."""
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_staff", "is_superuser", "groups", "user_permissions")

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return not _protected(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return not _protected(request, obj) and super().has_delete_permission(request, obj)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Only a superuser sets another user's password."""
        user = self.get_object(request, unquote(id))
        if user is not None and user.pk != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)
