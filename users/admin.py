from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from users.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Profile", {"fields": ("display_name", "bio")}),)
    list_display = ("username", "email", "display_name", "is_staff")
    search_fields = ("username", "email", "display_name")
