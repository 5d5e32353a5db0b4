"""What the posts app caches, and what writes to posts (and to their authors) invalidate."""

from collections.abc import Mapping
from typing import Any

from caching import (
    CacheKey,
    Changes,
    RowChange,
    detail_key,
    page_key,
    register_model,
    register_namespace,
)
from posts.entries import post_detail
from posts.models import Post
from users.cache import USERS, user_key
from users.models import User

POST, POSTS = "post", "posts"
PUBLISHED = Post.Status.PUBLISHED


def post_key(pk: int) -> CacheKey:
    return detail_key(POST, pk)


def posts_page_key(
    number: int, *, author: int | None = None, category: str | None = None
) -> CacheKey:
    return page_key(POSTS, number, {"author": author, "category": category})


def _counted_for(snapshot: Mapping[str, Any] | None) -> int | None:
    """The author whose ``post_count`` includes this row, if any."""
    if snapshot and snapshot["status"] == PUBLISHED:
        author: int = snapshot["author_id"]
        return author
    return None


def post_changes(row: RowChange) -> Changes:
    """A post write changes its detail; the lists if it is or was published; and the
    ``post_count`` of every author whose count of published posts it moves."""
    changes = Changes(drop={post_key(row.pk)} if row.pk is not None else set())
    if row.kind == "create" and row.pk is not None:
        changes.prime[post_key(row.pk)] = lambda: post_detail(row.pk)
    if row.kind == "update" and row.before is None:  # old values unknown
        counted = {row.after["author_id"]} if row.after else set()
        listed = True
    else:
        old, new = _counted_for(row.before), _counted_for(row.after)
        counted = {old, new} - {None} if old != new else set()
        listed = old is not None or new is not None
    if listed:
        changes.advance.add(POSTS)
    if counted:
        changes.drop |= {user_key(pk) for pk in counted}
        changes.advance.add(USERS)
    return changes


def _names(snapshot: Mapping[str, Any] | None) -> tuple[str, str] | None:
    return (snapshot["username"], snapshot["display_name"]) if snapshot is not None else None


def author_changes(row: RowChange) -> Changes:
    """Every post embeds its author's ``username`` and ``display_name``: a change to either
    invalidates the lists and each of the author's posts, found by one query (docs/writes.md)."""
    if row.kind != "update" or (row.before is not None and _names(row.before) == _names(row.after)):
        return Changes()
    pks = Post.objects.filter(author_id=row.pk).values_list("pk", flat=True)
    return Changes(drop={post_key(pk) for pk in pks}, advance={POSTS})


def register() -> None:
    register_namespace(POST)
    register_namespace(POSTS, generational=True)
    register_model(Post, tracked=("author_id", "status"), changes=post_changes)
    register_model(User, tracked=("username", "display_name"), changes=author_changes)
