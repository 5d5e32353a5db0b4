"""Cache administration over HTTP: stats, reset, namespace clears (staff only)."""

from urllib.parse import quote

import pytest

from caching.core import keys
from posts.cache import post_key
from tests.factories import make_post

pytestmark = pytest.mark.django_db


def test_stats_count_hits_and_misses_per_namespace(api, as_user, staff, user):
    post = make_post(user)
    for _ in range(3):
        api.get(f"/api/posts/{post.pk}/")
    api.get("/api/posts/")
    body = as_user(staff).get("/api/cache/stats/").json()
    assert body["namespaces"]["post"] == {
        "hits": 2,
        "misses": 1,
        "hit_rate": 0.6667,
        "loads": 1,
        "stale": 0,
        "keys": 1,
    }
    assert body["namespaces"]["posts"]["misses"] == 1 and body["namespaces"]["posts"]["keys"] == 1
    assert body["namespaces"]["user"] == {
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "loads": 0,
        "stale": 0,
        "keys": 0,
    }
    # The stats request's own token is looked up through the cache too (api.authentication): a miss.
    assert body["namespaces"]["reader"]["misses"] == 1
    assert body["total"] == {"hits": 2, "misses": 3, "hit_rate": 0.4, "stale": 0}


def test_reset_zeroes_the_counters(api, as_user, staff, user):
    post = make_post(user)
    api.get(f"/api/posts/{post.pk}/")
    admin = as_user(staff)
    assert admin.post("/api/cache/stats/reset/").status_code == 204
    assert admin.get("/api/cache/stats/").json()["total"] == {
        "hits": 0,
        "misses": 1,  # this request's own token lookup (api.authentication)
        "hit_rate": 0.0,
        "stale": 0,
    }


def test_namespace_delete_removes_only_that_namespace(api, as_user, staff, user, redis):
    post = make_post(user)
    api.get(f"/api/posts/{post.pk}/")
    api.get("/api/posts/")
    response = as_user(staff).delete("/api/cache/namespaces/post/")
    assert response.status_code == 200 and response.json() == {"namespace": "post", "deleted": 1}
    assert not redis.exists(keys.physical(post_key(post.pk)))
    assert api.get("/api/posts/")["X-Cache"] == "HIT"


@pytest.mark.parametrize("name", ["nope", "post*", "p?st", "[p]ost", "post:1", "*"])
def test_unknown_or_glob_namespace_is_404_and_removes_nothing(
    api, as_user, staff, user, redis, name
):
    post = make_post(user)
    api.get(f"/api/posts/{post.pk}/")
    response = as_user(staff).delete(f"/api/cache/namespaces/{quote(name)}/")
    assert response.status_code == 404 and "unknown cache namespace" in response.json()["detail"]
    assert redis.exists(keys.physical(post_key(post.pk)))


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/cache/stats/"),
        ("post", "/api/cache/stats/reset/"),
        ("delete", "/api/cache/namespaces/post/"),
    ],
)
def test_cache_admin_is_staff_only(api, as_user, user, method, url):
    assert getattr(api, method)(url).status_code == 401
    assert getattr(as_user(user), method)(url).status_code == 403


def test_health_reports_both_backends(api, db):
    assert api.get("/api/health/").json() == {"database": "ok", "cache": "ok"}
