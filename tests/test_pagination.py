"""Lists' pages (``api.pagination``): a page after the first, read by its keys, holds the rows
the ordering puts there, ties and filters included, in one statement whose OFFSET skips keys."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from posts.models import Post
from tests.factories import make_post, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_off(settings):
    """Every read loads from the database."""
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "ENABLED": False}


def pages(api, query: str) -> tuple[int, list[int]]:
    """The count every page gives and the ids on the pages, read until the 404 after the last."""
    counts, ids, number = set(), [], 1
    while (response := api.get(f"/api/posts/?{query}&page={number}")).status_code == 200:
        body = response.json()
        counts.add(body["count"])
        ids += [row["id"] for row in body["results"]]
        assert (body["next"] is None) == (len(ids) == body["count"])
        number += 1
    assert response.status_code == 404 and len(counts) == 1
    return counts.pop(), ids


def test_every_page_holds_what_the_ordering_puts_there(api):
    author, other = make_user(), make_user()
    posts = [
        make_post(author if i % 3 else other, category="redis" if i % 2 else "django")
        for i in range(50)
    ]
    make_post(author, status=Post.Status.DRAFT)
    # 25 posts created at one instant, between 17 newer and 8 older ones: the tie, which id
    # breaks, spans both page boundaries of the unfiltered list (after rows 20 and 40).
    tied = Post.objects.filter(pk__in=[post.pk for post in posts[8:33]])
    tied.update(created_at=posts[20].created_at)
    for query, filters in [
        ("", {}),
        ("category=redis", {"category": "redis"}),
        (f"author={author.pk}", {"author": author}),
        (f"author={author.pk}&category=django", {"author": author, "category": "django"}),
    ]:
        listed = Post.objects.filter(status=Post.Status.PUBLISHED, **filters)
        newest_first = sorted(listed, key=lambda post: (post.created_at, post.pk), reverse=True)
        assert pages(api, query) == (len(newest_first), [post.pk for post in newest_first])


def test_a_later_page_skips_keys_in_the_same_statement(api, user):
    for _ in range(45):
        make_post(user)
    with CaptureQueriesContext(connection) as first:
        api.get("/api/posts/")
    with CaptureQueriesContext(connection) as last:
        assert len(api.get("/api/posts/?page=3").json()["results"]) == 5
    assert [len(first), len(last)] == [2, 2]  # the count, then the page
    assert "ANY" not in first[1]["sql"] and "OFFSET" not in first[1]["sql"]
    # The OFFSET is in the keys' subquery, not on the rows with their authors.
    keys = last[1]["sql"].split("= ANY((ARRAY(")[1]
    assert keys.startswith('SELECT U0."id" AS "pk" FROM "posts_post" U0 WHERE')
    assert "JOIN" not in keys and keys.count("LIMIT 5 OFFSET 40)))") == 1
