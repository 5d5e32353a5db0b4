"""Cache-aside reads: MISS then HIT with identical bodies, TTL per namespace, BYPASS."""

import pytest

from caching.core import keys
from caching.core.entry import Entry
from caching.core.options import options
from posts.cache import post_key, posts_page_key
from tests.factories import make_post, make_user
from tests.live import wait_until
from users.cache import user_key, users_page_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(user):
    return make_post(user, category="redis")


@pytest.mark.parametrize(
    "path",
    [
        "/api/posts/{post}/",
        "/api/posts/",
        "/api/posts/?category=redis",
        "/api/posts/?author={author}&category=redis",
        "/api/users/{author}/",
        "/api/users/",
    ],
)
def test_miss_then_hit_with_identical_bodies(api, post, path, django_assert_num_queries, redis):
    url = path.format(post=post.pk, author=post.author_id)
    redis.delete(keys.physical(post_key(post.pk)), keys.physical(user_key(post.author_id)))
    first = api.get(url)
    assert first.status_code == 200 and first["X-Cache"] == "MISS"
    with django_assert_num_queries(0):
        second = api.get(url)
    assert second["X-Cache"] == "HIT"
    assert second.content == first.content


def test_ttl_per_namespace(api, post, redis, settings):
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "TTLS": {"post": 1800, "posts": 600, "user": 3600},
        "DEFAULT_TTL": 77,
    }
    redis.delete(keys.physical(post_key(post.pk)), keys.physical(user_key(post.author_id)))
    api.get(f"/api/posts/{post.pk}/")
    api.get("/api/posts/")
    api.get(f"/api/users/{post.author_id}/")
    api.get("/api/users/")  # "users" has no TTL here: the default applies

    def in_current_generation(key):
        return keys.in_generation(key, redis.get(keys.generation(key.namespace)).decode())

    def fresh_for(name):  # the TTL: how long the entry is served as a hit (its stamp)
        return Entry.stored(redis.get(name)).fresh_until / 1000 - redis.time()[0]

    stale = options().stale_if_error  # kept that much longer, for STALE answers only
    for name, ttl in [
        (keys.physical(post_key(post.pk)), 1800),
        (in_current_generation(posts_page_key(1)), 600),
        (keys.physical(user_key(post.author_id)), 3600),
        (in_current_generation(users_page_key(1)), 77),  # "users" has no TTL here: the default
    ]:
        assert ttl - 10 < fresh_for(name) <= ttl + 1
        assert ttl + stale - 10 < redis.ttl(name) <= ttl + stale


def test_default_ttls_match_the_spec(settings):
    from caching.core.options import options

    assert {ns: options().ttl(ns) for ns in ("user", "post", "users", "posts", "other")} == {
        "user": 3600,
        "post": 1800,
        "users": 600,
        "posts": 600,
        "other": 600,
    }


def test_disabled_cache_reads_the_database_and_says_bypass(
    api, post, settings, django_assert_num_queries, redis
):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "ENABLED": False}
    for _ in range(2):
        response = api.get(f"/api/posts/{post.pk}/")
        assert response["X-Cache"] == "BYPASS" and response.json()["title"] == post.title
    with django_assert_num_queries(2):  # count and page, every time
        assert api.get("/api/posts/")["X-Cache"] == "BYPASS"
    prefix = settings.CACHE_LAYER["KEY_PREFIX"]
    assert not any(
        key.startswith(prefix.encode()) for key in redis.scan_iter(match=f"{prefix}*:post*")
    )


def test_missing_object_is_404_and_not_cached(api, db, redis):
    assert api.get("/api/posts/999999/").status_code == 404
    assert api.get("/api/users/999999/").status_code == 404
    assert redis.exists(keys.physical(post_key(999999)), keys.physical(user_key(999999))) == 0


def test_empty_first_page_is_cached_and_told_apart_from_a_miss(api, db):
    first = api.get("/api/posts/?category=nothing-here")
    assert first.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert api.get("/api/posts/?category=nothing-here")["X-Cache"] == "HIT"


def test_a_filter_that_matches_nothing_is_kept_for_empty_ttl_only(api, settings, redis, user):
    """A flood of distinct never-matching filters costs at most its rate times EMPTY_TTL in
    keys (SPEC 10.7); a filtered page with results, and the unfiltered first page even when
    empty, keep the namespace's TTL."""
    # Long enough that the checks made right after the store (milliseconds each) never outlast
    # it on a loaded machine; the wait for it to expire below takes up to that long.
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "EMPTY_TTL": 5}

    def ttl_ms(**filters) -> int:
        generation = redis.get(keys.generation("posts")).decode()
        return redis.pttl(keys.in_generation(posts_page_key(1, **filters), generation))

    assert api.get("/api/posts/").json()["count"] == 0  # nothing published yet
    kept_ms = (600 + options().stale_if_error) * 1000  # its TTL and its stale window
    assert kept_ms - 10_000 < ttl_ms() <= kept_ms
    make_post(user, category="redis")
    nothing, something = (
        "/api/posts/?author=99999999&category=zzzz-nonexistent",
        f"/api/posts/?author={user.pk}",
    )
    assert api.get(nothing)["X-Cache"] == "MISS"
    assert 0 < ttl_ms(author=99999999, category="zzzz-nonexistent") <= 5000  # no stale window
    assert api.get(nothing)["X-Cache"] == "HIT"
    assert api.get(something)["X-Cache"] == "MISS"
    assert api.get(something)["X-Cache"] == "HIT"
    assert kept_ms - 10_000 < ttl_ms(author=user.pk) <= kept_ms
    wait_until(lambda: ttl_ms(author=99999999, category="zzzz-nonexistent") == -2)  # gone
    assert api.get(nothing)["X-Cache"] == "MISS" and api.get(something)["X-Cache"] == "HIT"


def test_pagination_links_are_built_per_request(api, user):
    for _ in range(21):
        make_post(user)
    one = api.get("/api/posts/?page=2", HTTP_HOST="localhost").json()
    two = api.get("/api/posts/?page=2", HTTP_HOST="127.0.0.1")
    assert two["X-Cache"] == "HIT"
    assert one["previous"] == "http://localhost/api/posts/" and one["next"] is None
    assert two.json()["previous"] == "http://127.0.0.1/api/posts/"
    assert len(one["results"]) == 1 and one["count"] == 21


def test_page_size_and_order(api, user):
    other = make_user()
    created = [make_post(user if i % 2 else other) for i in range(25)]
    body = api.get("/api/posts/").json()
    assert [p["id"] for p in body["results"]] == [p.pk for p in reversed(created)][:20]
    assert body["next"].endswith("?page=2")
