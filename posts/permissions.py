from rest_framework import permissions


class IsAuthorOrStaff(permissions.BasePermission):
    """Anyone reads; authenticated users create; the author or staff change and delete."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)

    object_check_allows_reads = True  # cached detail reads need no object (api.reads)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.is_staff or obj.author_id == request.user.pk


def may_see(reader, draft_of: int | None) -> bool:
    """A post is visible to everyone, unless it is a draft (``draft_of``: its author's id): then
    only to its author and to staff (SPEC 5)."""
    if draft_of is None:
        return True
    return bool(reader.is_authenticated and (reader.is_staff or reader.pk == draft_of))
