from django.contrib.auth.models import AnonymousUser
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from posts.models import Post
from users.models import User


class IsAuthorOrStaff(permissions.BasePermission):
    """Anyone reads; authenticated users create; the author or staff change and delete."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)

    object_check_allows_reads = True  # cached detail reads need no object (api.cached_reads)

    def has_object_permission(self, request: Request, view: APIView, obj: Post) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.is_staff or obj.author_id == request.user.pk


def may_see(reader: User | AnonymousUser, draft_of: int | None) -> bool:
    """A draft (``draft_of``: its author's id) only to its author and staff (SPEC 5)."""
    if draft_of is None:
        return True
    return bool(reader.is_authenticated and (reader.is_staff or reader.pk == draft_of))
