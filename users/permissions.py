from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin

from users.models import User


class IsSelfOrStaff(permissions.BasePermission):
    """Who may change whom (SPEC 10.5): anyone reads; staff create and delete users; a user
    changes their own account; staff change ordinary users' fields but not their password; only a
    superuser changes or deletes a staff or superuser account or sets another's password."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if _action(view) in ("create", "destroy"):
            return bool(request.user and request.user.is_staff)
        return bool(request.user and request.user.is_authenticated)

    object_check_allows_reads = True  # cached detail reads need no object (api.cached_reads)

    def has_object_permission(self, request: Request, view: APIView, obj: User) -> bool:
        actor = request.user
        if request.method in permissions.SAFE_METHODS or actor.is_superuser:
            return True
        if obj.pk == actor.pk and _action(view) != "destroy":
            return True
        if not actor.is_staff or obj.is_staff or obj.is_superuser:
            return False
        return "password" not in request.data


def _action(view: APIView) -> str | None:
    """The viewset action being run; a view that is not a viewset has none."""
    return view.action if isinstance(view, ViewSetMixin) else None
