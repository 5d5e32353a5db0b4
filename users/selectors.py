"""Reads of users from the database: rows and querysets (``users.entries`` renders them)."""

from django.db.models import Aggregate, QuerySet

from users.models import User

# Counts other apps provide on a user's row, by field name, registered when they load (posts:
# ``post_count``): users imports no app above it.
ROW_COUNTS: dict[str, Aggregate] = {}


def users_with_counts() -> QuerySet[User]:
    return User.objects.annotate(**ROW_COUNTS)


def user(pk: int) -> User | None:
    return users_with_counts().filter(pk=pk).first()


def users() -> QuerySet[User]:
    return users_with_counts().order_by("id")
