"""What the users app caches, and what a write to a user invalidates."""

from caching import keys, registry
from caching.registry import Changes, RowChange
from users.models import User

USER, USERS = "user", "users"
# Saved but never shown: a login's save(update_fields=["last_login"]) invalidates nothing.
NOT_SHOWN = frozenset({"last_login", "password"})


def user_key(pk: int) -> keys.CacheKey:
    return keys.detail(USER, pk)


def users_page_key(number: int) -> keys.CacheKey:
    return keys.page(USERS, number)


def user_changes(row: RowChange) -> Changes:
    """Any write changes the user's detail and the user lists; a new user is cached at once."""
    from users.selectors import user_detail

    if row.fields is not None and row.fields <= NOT_SHOWN:
        return Changes()

    changes = Changes(keys={user_key(row.pk)} if row.pk is not None else set(), namespaces={USERS})
    if row.kind == "create" and row.pk is not None:
        changes.primes[user_key(row.pk)] = lambda: user_detail(row.pk)
    return changes


def register() -> None:
    registry.register_namespace(USER)
    registry.register_namespace(USERS, generational=True)
    registry.register_model(User, tracked=(), changes=user_changes)
