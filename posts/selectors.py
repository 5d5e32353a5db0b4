"""Reads of posts from the database: rows and querysets (``posts.entries`` renders them)."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q, QuerySet

from posts.models import Post
from users.models import User


def posts() -> QuerySet[Post]:
    return Post.objects.select_related("author")


def writable_by(user: User | AnonymousUser) -> QuerySet[Post]:
    """The posts ``user`` may see to change: all for staff; else published ones and their own."""
    if user.is_staff:
        return posts()
    return posts().filter(Q(status=Post.Status.PUBLISHED) | Q(author_id=user.pk))


def post(pk: int) -> Post | None:
    """Any post, drafts included."""
    return posts().filter(pk=pk).first()


def published(*, author: int | None = None, category: str | None = None) -> QuerySet[Post]:
    """Published posts, newest first, filtered by author and category when given."""
    queryset = posts().filter(status=Post.Status.PUBLISHED).order_by("-created_at", "-id")
    if author is not None:
        queryset = queryset.filter(author_id=author)
    if category is not None:
        queryset = queryset.filter(category=category)
    return queryset


def published_count() -> Count:
    """A user row's count of their published posts (``users.selectors.ROW_COUNTS``)."""
    return Count("posts", filter=Q(posts__status=Post.Status.PUBLISHED))
