"""The lean hit path: bytes from Redis without the ORM, serializer or renderer; ETags and 304s;
the fast path around DRF for anonymous and token readers, DRF for the rest."""

import pytest

from tests.factories import make_post, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(user):
    return make_post(user, title="hello")


def test_a_token_hit_needs_no_database(as_user, post, django_assert_num_queries):
    """The token's reader is a cache entry too (api.authentication): a warm token reads nothing."""
    client = as_user(post.author)
    client.get(f"/api/posts/{post.pk}/")
    with django_assert_num_queries(0):
        response = client.get(f"/api/posts/{post.pk}/")
    assert response["X-Cache"] == "HIT" and response.json()["title"] == "hello"


def test_deactivation_and_revocation_reach_a_cached_token_at_once(
    as_user, post, django_capture_on_commit_callbacks
):
    from rest_framework.authtoken.models import Token

    client = as_user(post.author)
    for _ in range(2):
        assert client.get(f"/api/posts/{post.pk}/").status_code == 200  # the reader is cached
    with django_capture_on_commit_callbacks(execute=True):
        post.author.is_active = False
        post.author.save()
    assert client.get(f"/api/posts/{post.pk}/").status_code == 401
    other = make_user()
    reader = as_user(other)
    for _ in range(2):
        assert reader.get(f"/api/posts/{post.pk}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        Token.objects.filter(user=other).delete()
    assert reader.get(f"/api/posts/{post.pk}/").status_code == 401


def test_a_promotion_to_staff_reaches_a_cached_token_at_once(
    as_user, user, django_capture_on_commit_callbacks
):
    from posts.models import Post

    draft = make_post(make_user(), title="draft", status=Post.Status.DRAFT)
    client = as_user(user)
    for _ in range(2):
        assert client.get(f"/api/posts/{draft.pk}/").status_code == 404  # not theirs
    with django_capture_on_commit_callbacks(execute=True):
        user.is_staff = True
        user.save()
    assert client.get(f"/api/posts/{draft.pk}/").status_code == 200


def test_an_unknown_token_is_answered_by_drf_with_401(api, post):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = api.get(f"/api/posts/{post.pk}/")
    assert response.status_code == 401 and "Invalid token" in response.json()["detail"]


def test_a_session_reader_goes_through_drf_and_gets_the_same_bytes(api, client, post, staff):
    anonymous = api.get(f"/api/posts/{post.pk}/")
    client.force_login(staff)
    via_drf = client.get(f"/api/posts/{post.pk}/", HTTP_ACCEPT="text/html")
    assert via_drf.status_code == 200 and via_drf["X-Cache"] == "HIT"
    assert via_drf.content == anonymous.content


@pytest.mark.parametrize(
    "url", ["/api/posts/{pk}/", "/api/posts/", "/api/users/{author}/", "/api/users/"]
)
def test_etag_and_304(api, post, url):
    url = url.format(pk=post.pk, author=post.author_id)
    first = api.get(url)
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert api.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_etag_changes_when_the_post_changes(api, post, django_capture_on_commit_callbacks):
    etag = api.get(f"/api/posts/{post.pk}/")["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        post.title = "changed"
        post.save()
    response = api.get(f"/api/posts/{post.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert (
        response.status_code == 200
        and response.json()["title"] == "changed"
        and response["ETag"] != etag
    )


def test_email_variants_have_their_own_etags(api, as_user, post):
    url = f"/api/users/{post.author_id}/"
    public = api.get(url)
    own = as_user(post.author).get(url)
    assert "email" in own.json() and "email" not in public.json()
    assert own["ETag"] != public["ETag"]
    assert as_user(post.author).get(url, HTTP_IF_NONE_MATCH=public["ETag"]).status_code == 200


def test_hit_body_is_what_drf_would_render(api, post):
    from api.responses import render
    from posts.selectors import posts
    from posts.serializers import PostSerializer

    api.get(f"/api/posts/{post.pk}/")
    hit = api.get(f"/api/posts/{post.pk}/")
    assert hit["X-Cache"] == "HIT"
    assert hit.content == render(PostSerializer(posts().get(pk=post.pk)).data)
    assert hit["Content-Type"] == "application/json"


def test_a_hidden_draft_and_a_missing_id_look_the_same(api, user):
    draft = make_post(user, status="draft")
    api.get(f"/api/posts/{draft.pk}/")
    hidden, missing = api.get(f"/api/posts/{draft.pk}/"), api.get("/api/posts/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert "X-Cache" not in hidden and "X-Cache" not in missing


def test_reader_dependent_responses_are_private(api, as_user, post):
    for response in (
        api.get(f"/api/users/{post.author_id}/"),
        as_user(post.author).get(f"/api/users/{post.author_id}/"),
        api.get("/api/posts/999999/"),
        api.get("/api/posts/?author=x"),
    ):
        assert response["Cache-Control"] == "private, no-cache"
        assert "Authorization" in response["Vary"]


def test_a_users_page_etag_for_a_member_hashes_only_what_they_see(as_user, post):
    from caching import etag

    response = as_user(post.author).get("/api/users/")
    body = response.json()
    assert any("email" in u for u in body["results"])
    assert response["ETag"] != as_user(make_user()).get("/api/users/")["ETag"]
    assert response["ETag"].startswith('"') and len(response["ETag"]) == len(etag(b"x"))


@pytest.mark.parametrize(
    "header,status",
    [("Token", 401), ("Token a b", 401), ("Token \u00e9t\u00e9", 401), ("Bearer abc", 200)],
)
def test_authorization_headers_are_answered_as_drf_would(api, post, header, status):
    api.credentials(HTTP_AUTHORIZATION=header)  # another scheme: DRF reads it as anonymous
    assert api.get(f"/api/posts/{post.pk}/").status_code == status


def test_a_write_reaches_the_previous_key_version_too(
    api, post, redis, django_capture_on_commit_callbacks
):
    """During a rolling deploy the previous release reads version-1 keys; our writes must
    invalidate them as well."""
    from caching.core import keys
    from posts.cache import post_key

    old = keys.physical(post_key(post.pk), keys.VERSION - 1)
    redis.set(old, b"stale entry of the previous release", ex=60)
    old_generation = keys.generation("posts", keys.VERSION - 1)
    redis.set(old_generation, 5)
    with django_capture_on_commit_callbacks(execute=True):
        post.title = "new"
        post.save()
    assert not redis.exists(old)
    assert int(redis.get(old_generation)) > 5
    redis.delete(old_generation)


def test_a_write_creates_no_counter_for_the_previous_version(
    post, redis, django_capture_on_commit_callbacks
):
    from caching.core import keys

    with django_capture_on_commit_callbacks(execute=True):
        post.title = "again"
        post.save()
    assert redis.exists(keys.generation("posts"))
    assert not redis.exists(keys.generation("posts", keys.VERSION - 1))
