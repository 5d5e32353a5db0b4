"""Cache work runs after commit; a rollback leaves nothing in the cache (SPEC 8.2)."""

import pytest
from django.db import transaction

from caching.core import keys
from caching.reads.get_or_load import get_or_load
from posts.cache import post_key
from posts.entries import post_detail
from posts.models import Post
from tests.conftest import data
from tests.factories import make_post, make_user

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


@pytest.fixture
def post(db):
    return make_post(make_user(), title="v1", category="redis")


def warm(api, post):
    for url in (f"/api/posts/{post.pk}/", "/api/posts/"):
        api.get(url)
        assert api.get(url)["X-Cache"] == "HIT"


def test_rolled_back_update_keeps_the_cache_and_invalidates_nothing(api, post, redis):
    warm(api, post)
    with pytest.raises(Boom), transaction.atomic():
        Post.objects.filter(pk=post.pk).update(title="never")
        obj = Post.objects.get(pk=post.pk)
        obj.title = "never either"
        obj.save()
        raise Boom
    for url in (f"/api/posts/{post.pk}/", "/api/posts/"):
        response = api.get(url)
        assert response["X-Cache"] == "HIT" and b"never" not in response.content


def test_rolled_back_create_writes_nothing_through(api, post, redis):
    with pytest.raises(Boom), transaction.atomic():
        created = Post.objects.create(
            author=post.author, title="ghost", category="redis", status="published"
        )
        raise Boom
    assert not redis.exists(keys.physical(post_key(created.pk)))
    assert api.get(f"/api/posts/{created.pk}/").status_code == 404


def test_invalidation_waits_for_the_outer_commit(api, post):
    warm(api, post)
    with transaction.atomic():
        with transaction.atomic():
            obj = Post.objects.get(pk=post.pk)
            obj.title = "v2"
            obj.save()
        # Committed to nothing yet: other readers must still get the committed v1 from the cache.
        assert get_or_load(post_key(post.pk), lambda: post_detail(post.pk)).status == "BYPASS"
    assert api.get(f"/api/posts/{post.pk}/").json()["title"] == "v2"
    assert "v2" in [p["title"] for p in api.get("/api/posts/").json()["results"]]


def test_rolled_back_savepoint_drops_only_its_own_work(api, post):
    other = make_post(post.author, title="o1", category="redis")
    warm(api, post)
    warm(api, other)
    with transaction.atomic():
        Post.objects.filter(pk=other.pk).update(title="o2")
        with pytest.raises(Boom), transaction.atomic():
            Post.objects.filter(pk=post.pk).update(title="never")
            raise Boom
    assert api.get(f"/api/posts/{other.pk}/").json()["title"] == "o2"
    detail = api.get(f"/api/posts/{post.pk}/")
    assert detail.json()["title"] == "v1"


def test_reads_inside_a_transaction_see_its_writes_and_store_nothing(api, post, redis):
    with pytest.raises(Boom), transaction.atomic():
        Post.objects.filter(pk=post.pk).update(title="uncommitted")
        result = get_or_load(post_key(post.pk), lambda: post_detail(post.pk))
        assert data(result)["title"] == "uncommitted" and result.status == "BYPASS"
        raise Boom
    assert b"uncommitted" not in (redis.get(keys.physical(post_key(post.pk))) or b"")
    assert api.get(f"/api/posts/{post.pk}/").json()["title"] == "v1"


def test_writes_outside_a_transaction_invalidate_at_once(api, post):
    warm(api, post)
    Post.objects.filter(pk=post.pk).update(title="v2")
    assert api.get(f"/api/posts/{post.pk}/").json()["title"] == "v2"


def test_reads_in_a_transaction_that_wrote_nothing_cached_use_the_cache(api, post):
    warm(api, post)
    with transaction.atomic():
        assert get_or_load(post_key(post.pk), lambda: post_detail(post.pk)).status == "HIT"
