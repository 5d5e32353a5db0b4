"""Reads of posts from the database, shaped as the cached entries (rendered JSON)."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from api.pagination import page_of
from api.responses import render
from caching import Entry
from posts.models import Post
from posts.serializers import PostSerializer
from users.models import User


def posts() -> QuerySet[Post]:
    return Post.objects.select_related("author")


def writable_by(user: User | AnonymousUser) -> QuerySet[Post]:
    """The posts ``user`` may see to change: all for staff; else published ones and their own."""
    if user.is_staff:
        return posts()
    return posts().filter(Q(status=Post.Status.PUBLISHED) | Q(author_id=user.pk))


def post_detail(pk: int) -> Entry | None:
    """Any post, drafts included; ``meta["draft_of"]`` lets the view check access on a hit."""
    post = posts().filter(pk=pk).first()
    if post is None:
        return None
    draft_of = post.author_id if post.status == Post.Status.DRAFT else None
    return Entry((render(PostSerializer(post).data),), {"draft_of": draft_of})


def post_page(
    number: int, *, author: int | None = None, category: str | None = None
) -> Entry | None:
    queryset = posts().filter(status=Post.Status.PUBLISHED).order_by("-created_at", "-id")
    if author is not None:
        queryset = queryset.filter(author_id=author)
    if category is not None:
        queryset = queryset.filter(category=category)
    found = page_of(queryset, number, PostSerializer)
    if found is None:
        return None
    # A filter that matches nothing is cheap to answer again and may be one of a flood of
    # distinct values: kept briefly (EMPTY_TTL). An empty unfiltered page is one key: kept.
    filtered = author is not None or category is not None
    return Entry((render(found[1]),), found[0], empty=filtered and found[0]["count"] == 0)
