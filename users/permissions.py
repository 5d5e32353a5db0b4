from rest_framework import permissions


class IsSelfOrStaff(permissions.BasePermission):
    """Who may change whom (SPEC 10.5).

    Anyone reads. Creating and deleting users: staff. A user changes their own account. Staff
    change the fields of ordinary users, but not their password; only a superuser changes or
    deletes a staff or superuser account or sets another user's password.
    """

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if view.action in ("create", "destroy"):
            return bool(request.user and request.user.is_staff)
        return bool(request.user and request.user.is_authenticated)

    object_check_allows_reads = True  # cached detail reads need no object (api.reads)

    def has_object_permission(self, request, view, obj) -> bool:
        actor = request.user
        if request.method in permissions.SAFE_METHODS or actor.is_superuser:
            return True
        if obj.pk == actor.pk and view.action != "destroy":
            return True
        if not actor.is_staff or obj.is_staff or obj.is_superuser:
            return False
        return "password" not in request.data
