"""Reads of users from the database, shaped as the cached entries (rendered JSON).

Each entry holds two renderings: part 0 without emails (for everyone), part 1 with them (for
staff; a user reading themself). The view picks one per reader (``users.views``).
"""

from typing import Any

from django.db.models import Count, Q, QuerySet

from api.pagination import page_of
from api.responses import render
from caching import Entry
from users.models import User
from users.serializers import UserSerializer

PUBLIC, WITH_EMAIL = 0, 1
PUBLISHED = "published"  # posts.Post.Status.PUBLISHED; users does not import posts


def users_with_counts() -> QuerySet[User]:
    return User.objects.annotate(post_count=Count("posts", filter=Q(posts__status=PUBLISHED)))


def without_email(user: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in user.items() if name != "email"}


def user_detail(pk: int) -> Entry | None:
    user = users_with_counts().filter(pk=pk).first()
    if user is None:
        return None
    data = UserSerializer(user).data
    return Entry((render(without_email(data)), render(data)))


def user_page(number: int) -> Entry | None:
    found = page_of(users_with_counts().order_by("id"), number, UserSerializer)
    if found is None:
        return None
    meta, rows = found
    public = [without_email(row) for row in rows]
    return Entry((render(public), render(rows)), {**meta, "ids": [row["id"] for row in rows]})
