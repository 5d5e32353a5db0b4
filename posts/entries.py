"""Posts rendered as the cache keeps them: JSON bytes in an ``Entry``, with what a hit needs to
check access without the database."""

from api.pagination import page_of
from api.responses import render
from caching import Entry
from posts import selectors
from posts.models import Post
from posts.serializers import PostSerializer


def post_detail(pk: int) -> Entry | None:
    """Any post, drafts included; ``meta["draft_of"]`` lets the view check access on a hit."""
    post = selectors.post(pk)
    if post is None:
        return None
    draft_of = post.author_id if post.status == Post.Status.DRAFT else None
    return Entry((render(PostSerializer(post).data),), {"draft_of": draft_of})


def post_page(
    number: int, *, author: int | None = None, category: str | None = None
) -> Entry | None:
    published = selectors.published(author=author, category=category)
    found = page_of(published, number, PostSerializer, keys_first=True)
    if found is None:
        return None
    # An empty filtered page only for EMPTY_TTL (docs/failures.md); an unfiltered one is one key.
    filtered = author is not None or category is not None
    return Entry((render(found[1]),), found[0], empty=filtered and found[0]["count"] == 0)
