from rest_framework import permissions

from posts.models import Post


class IsAuthorOrStaff(permissions.BasePermission):
    """Anyone reads; authenticated users create; the author or staff change and delete."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.is_staff or obj.author_id == request.user.pk


def may_see(post: dict, reader) -> bool:
    """A draft is visible only to its author and to staff (SPEC 5)."""
    if post["status"] != Post.Status.DRAFT:
        return True
    return reader.is_authenticated and (reader.is_staff or post["author"]["id"] == reader.pk)
