"""Reads of users from the database, shaped as the cached representations."""

from django.db.models import Count, Q, QuerySet

from config.pagination import page_of
from users.models import User
from users.serializers import UserSerializer

PUBLISHED = "published"


def users_with_counts() -> QuerySet[User]:
    return User.objects.annotate(post_count=Count("posts", filter=Q(posts__status=PUBLISHED)))


def user_detail(pk: int) -> dict | None:
    user = users_with_counts().filter(pk=pk).first()
    return UserSerializer(user).data if user else None


def user_page(number: int) -> dict | None:
    return page_of(users_with_counts().order_by("id"), number, UserSerializer)
