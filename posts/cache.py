"""What the posts app caches, and what writes to posts (and to their authors) invalidate."""

from caching import keys, registry
from caching.registry import Changes, RowChange
from posts.models import Post
from users.cache import USERS, user_key
from users.models import User

POST, POSTS = "post", "posts"
PUBLISHED = Post.Status.PUBLISHED


def post_key(pk: int) -> keys.CacheKey:
    return keys.detail(POST, pk)


def posts_page_key(number: int, *, author: int | None = None, category: str | None = None) -> keys.CacheKey:
    return keys.page(POSTS, number, {"author": author, "category": category})


def _counted_for(snapshot) -> object | None:
    """The author whose ``post_count`` includes this row, if any."""
    if snapshot and snapshot["status"] == PUBLISHED:
        return snapshot["author_id"]
    return None


def post_changes(row: RowChange) -> Changes:
    """A post write changes its detail; the lists if it is or was published; and the
    ``post_count`` of every author whose count of published posts it moves."""
    from posts.selectors import post_detail

    changes = Changes(keys={post_key(row.pk)} if row.pk is not None else set())
    if row.kind == "create" and row.pk is not None:
        changes.primes[post_key(row.pk)] = lambda: post_detail(row.pk)
    unknown = row.kind == "update" and row.before is None
    if unknown:
        counted = {row.after["author_id"]} if row.after else set()
        listed = True
    else:
        old, new = _counted_for(row.before), _counted_for(row.after)
        counted = {old, new} - {None} if old != new else set()
        listed = old is not None or new is not None
    if listed:
        changes.namespaces.add(POSTS)
    if counted:
        changes.keys |= {user_key(pk) for pk in counted}
        changes.namespaces.add(USERS)
    return changes


def _names(snapshot) -> tuple:
    return snapshot["username"], snapshot["display_name"]


def author_changes(row: RowChange) -> Changes:
    """Every post embeds its author's ``username`` and ``display_name``: a change to either
    invalidates the lists and the detail of each of the author's posts (one query, in the
    write's transaction; the cost grows with the author's posts, not with the key space)."""
    if row.kind != "update" or (row.before is not None and _names(row.before) == _names(row.after)):
        return Changes()
    details = {post_key(pk) for pk in Post.objects.filter(author_id=row.pk).values_list("pk", flat=True)}
    return Changes(keys=details, namespaces={POSTS})


def register() -> None:
    registry.register_namespace(POST)
    registry.register_namespace(POSTS, generational=True)
    registry.register_model(Post, tracked=("author_id", "status"), changes=post_changes)
    registry.register_model(User, tracked=("username", "display_name"), changes=author_changes)
