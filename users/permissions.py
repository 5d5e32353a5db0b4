from rest_framework import permissions


class IsSelfOrStaff(permissions.BasePermission):
    """Updates: the user themself or staff. Creating and deleting users: staff only."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if view.action in ("create", "destroy"):
            return bool(request.user and request.user.is_staff)
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.is_staff or obj.pk == request.user.pk
