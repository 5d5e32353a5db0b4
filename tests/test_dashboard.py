"""The cache dashboard in the admin: staff only, a row per namespace, the hour's hit rate, and a
CSRF-protected, confirmed flush that is the same SCAN-based clear as cache_flush."""

import re

import pytest
from django.test import Client

from caching.core import keys
from caching.ops import keyspace
from caching.ops import stats as counters
from posts.cache import post_key
from tests.factories import make_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    return client


@pytest.fixture
def cached(api, user):
    post = make_post(user)
    for _ in range(3):
        api.get(f"/api/posts/{post.pk}/")
    return post


def test_dashboard_is_linked_from_the_admin_index_and_staff_only(admin_client, client, user):
    assert b'href="/admin/cache/"' in admin_client.get("/admin/").content
    client.force_login(user)  # not staff
    assert client.get("/admin/cache/").status_code == 302


def test_dashboard_rows_and_chart(admin_client, cached):
    page = admin_client.get("/admin/cache/").content.decode()
    row = re.search(r'<tr data-namespace="post">(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[:7] == [
        "1800",
        "1",
        "2",
        "1",
        "66.7%",
        "0",
        "1",
    ]  # TTL, keys, hits, misses, rate, stale, loads
    assert 'id="hit-rate-chart"' in page and "<circle" in page and "3 reads" in page


def test_flush_needs_confirmation_and_csrf(admin_client, cached, redis):
    key = keys.physical(post_key(cached.pk))
    confirm = admin_client.get("/admin/cache/flush/post/")
    assert confirm.status_code == 200 and b"1 keys now" in confirm.content and redis.exists(key)
    assert admin_client.post("/admin/cache/flush/post/").status_code == 403  # no CSRF token
    assert redis.exists(key)
    token = (
        re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.content).group(1).decode()
    )
    done = admin_client.post(
        "/admin/cache/flush/post/", {"csrfmiddlewaretoken": token}, follow=True
    )
    assert b"1 keys removed" in done.content and not redis.exists(key)
    assert keyspace.count_keys()["post"] == 0


def test_flush_of_an_unknown_or_glob_namespace_is_404(admin_client, cached, redis):
    for name in ("nope", "post*"):
        assert admin_client.get(f"/admin/cache/flush/{name}/").status_code == 404
    assert redis.exists(keys.physical(post_key(cached.pk)))


def test_history_counts_every_read(cached):
    recent = counters.history(2)  # the reads may straddle a minute boundary
    assert sum(row["hits"] for row in recent) == 2 and sum(row["misses"] for row in recent) == 1
    counters.reset_stats()
    assert sum(row["hits"] + row["misses"] for row in counters.history(2)) == 0


def test_dashboard_says_when_redis_is_down(admin_client, private_redis, db):
    private_redis.kill()
    page = admin_client.get("/admin/cache/")
    assert page.status_code == 200 and b"Redis is unavailable" in page.content
