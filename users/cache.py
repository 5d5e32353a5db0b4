"""What the users app caches, and what a write to a user invalidates."""

from caching import (
    CacheKey,
    Changes,
    RowChange,
    detail_key,
    page_key,
    register_model,
    register_namespace,
)
from users.entries import user_detail
from users.models import User

USER, USERS = "user", "users"
# Saved but never shown: a login's save(update_fields=["last_login"]) invalidates nothing.
NOT_SHOWN = frozenset({"last_login", "password"})


def user_key(pk: int) -> CacheKey:
    return detail_key(USER, pk)


def users_page_key(number: int) -> CacheKey:
    return page_key(USERS, number)


def user_changes(row: RowChange) -> Changes:
    """Any write changes the user's detail and the user lists; a new user is cached at once."""
    if row.fields is not None and row.fields <= NOT_SHOWN:
        return Changes()
    changes = Changes(drop={user_key(row.pk)} if row.pk is not None else set(), advance={USERS})
    if row.kind == "create" and row.pk is not None:
        changes.prime[user_key(row.pk)] = lambda: user_detail(row.pk)
    return changes


def register() -> None:
    register_namespace(USER)
    register_namespace(USERS, generational=True)
    register_model(User, tracked=(), changes=user_changes)
