"""Reads of posts from the database, shaped as the cached representations."""

from django.db.models import Q, QuerySet

from config.pagination import page_of
from posts.models import Post
from posts.serializers import PostSerializer


def posts() -> QuerySet[Post]:
    return Post.objects.select_related("author")


def writable_by(user) -> QuerySet[Post]:
    """The posts ``user`` may see to change: all for staff; else published ones and their own."""
    if user.is_staff:
        return posts()
    return posts().filter(Q(status=Post.Status.PUBLISHED) | Q(author_id=user.pk))


def post_detail(pk: int) -> dict | None:
    """Any post, drafts included: the view decides who may see it."""
    post = posts().filter(pk=pk).first()
    return PostSerializer(post).data if post else None


def post_page(number: int, *, author: int | None = None, category: str | None = None) -> dict | None:
    queryset = posts().filter(status=Post.Status.PUBLISHED).order_by("-created_at", "-id")
    if author is not None:
        queryset = queryset.filter(author_id=author)
    if category is not None:
        queryset = queryset.filter(category=category)
    return page_of(queryset, number, PostSerializer)
