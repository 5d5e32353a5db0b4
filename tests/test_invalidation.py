"""Every write path (API, admin, ORM save/delete) invalidates every representation it changes:
the detail, each list and filter, the author embedded in posts, and ``post_count``.

Transactional tests: writes really commit, so after-commit invalidation runs as in production.
"""

import pytest

from posts.models import Post
from tests.factories import make_post, make_user
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def post_views(post) -> list[str]:
    return [
        f"/api/posts/{post.pk}/",
        "/api/posts/",
        f"/api/posts/?category={post.category}",
        f"/api/posts/?author={post.author_id}",
        f"/api/posts/?author={post.author_id}&category={post.category}",
    ]


def warm(client, urls):
    """Read each URL twice and check the second read is a hit, so a missed invalidation
    would show as stale data below."""
    for url in urls:
        client.get(url)
        assert client.get(url)["X-Cache"] == "HIT", url


def titles(client, url) -> list[str]:
    body = client.get(url).json()
    return [p["title"] for p in body["results"]] if "results" in body else [body.get("title")]


@pytest.fixture
def world(db):
    author = make_user(display_name="Ada")
    other = make_user(display_name="Bob")
    staff = make_user(is_staff=True, is_superuser=True)
    post = make_post(author, title="old title", category="redis")
    return author, other, staff, post


def assert_everywhere(client, post, title):
    for url in post_views(post):
        assert title in titles(client, url), url


@pytest.mark.parametrize("path", ["api", "admin", "orm"])
def test_title_change_reaches_every_view(api, as_user, world, path, client):
    author, _, staff, post = world
    warm(api, post_views(post))
    if path == "api":
        assert (
            as_user(author)
            .patch(f"/api/posts/{post.pk}/", {"title": "new title"}, format="json")
            .status_code
            == 200
        )
    elif path == "admin":
        client.force_login(staff)
        response = client.post(
            f"/admin/posts/post/{post.pk}/change/",
            {
                "author": author.pk,
                "title": "new title",
                "body": post.body,
                "category": post.category,
                "status": "published",
            },
        )
        assert response.status_code == 302
    else:
        fresh = Post.objects.get(pk=post.pk)
        fresh.title = "new title"
        fresh.save()
    assert_everywhere(api, post, "new title")


@pytest.mark.parametrize("path", ["api", "admin", "orm"])
def test_delete_reaches_every_view_and_post_count(api, as_user, world, path, client):
    author, _, staff, post = world
    warm(api, post_views(post) + [f"/api/users/{author.pk}/", "/api/users/"])
    if path == "api":
        assert as_user(staff).delete(f"/api/posts/{post.pk}/").status_code == 204
    elif path == "admin":
        client.force_login(staff)
        assert (
            client.post(f"/admin/posts/post/{post.pk}/delete/", {"post": "yes"}).status_code == 302
        )
    else:
        Post.objects.get(pk=post.pk).delete()
    assert api.get(f"/api/posts/{post.pk}/").status_code == 404
    for url in post_views(post)[1:]:
        assert api.get(url).json()["count"] == 0, url
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 0
    assert {u["id"]: u["post_count"] for u in api.get("/api/users/").json()["results"]}[
        author.pk
    ] == 0


def test_create_through_api_is_written_through_and_reaches_lists_and_count(api, as_user, world):
    author, _, _, post = world
    warm(api, post_views(post) + [f"/api/users/{author.pk}/", "/api/users/"])
    created = as_user(author).post(
        "/api/posts/", {"title": "fresh", "category": "redis", "status": "published"}, format="json"
    )
    assert created.status_code == 201
    new_id = created.json()["id"]
    detail = api.get(f"/api/posts/{new_id}/")
    assert detail["X-Cache"] == "HIT"  # written through at commit, before anyone read it
    assert detail.json() == created.json()
    for url in post_views(post)[1:]:
        assert "fresh" in titles(api, url), url
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 2


@pytest.mark.parametrize("path", ["orm", "api"])
def test_publish_and_unpublish_move_lists_and_post_count(api, as_user, world, path):
    author, _, _, post = world
    draft = make_post(author, title="draft one", category="redis", status="draft")
    warm(api, post_views(post) + [f"/api/users/{author.pk}/"])

    def set_status(status):
        if path == "api":
            assert (
                as_user(author)
                .patch(f"/api/posts/{draft.pk}/", {"status": status}, format="json")
                .status_code
                == 200
            )
        else:
            obj = Post.objects.get(pk=draft.pk)
            obj.status = status
            obj.save()

    set_status("published")
    assert "draft one" in titles(api, "/api/posts/?category=redis")
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 2
    warm(api, post_views(post) + [f"/api/users/{author.pk}/"])
    set_status("draft")
    assert "draft one" not in titles(api, "/api/posts/?category=redis")
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 1


def test_moving_a_post_to_another_author_updates_both_counts_and_filters(api, as_user, world):
    author, other, staff, post = world
    warm(
        api,
        post_views(post)
        + [f"/api/users/{author.pk}/", f"/api/users/{other.pk}/", f"/api/posts/?author={other.pk}"],
    )
    obj = Post.objects.get(pk=post.pk)
    obj.author = other
    obj.save()
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 0
    assert api.get(f"/api/users/{other.pk}/").json()["post_count"] == 1
    assert api.get(f"/api/posts/?author={author.pk}").json()["count"] == 0
    assert titles(api, f"/api/posts/?author={other.pk}") == ["old title"]
    assert api.get(f"/api/posts/{post.pk}/").json()["author"]["display_name"] == "Bob"


def test_unloaded_instance_saved_over_a_row_still_invalidates_the_old_author(api, world):
    """``Post(pk=..., ...).save()`` carries no loaded values: the old author is read first."""
    author, other, _, post = world
    warm(api, [f"/api/users/{author.pk}/"])
    Post(
        pk=post.pk,
        author=other,
        title="t",
        category="redis",
        status="published",
        created_at=post.created_at,
    ).save()
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 0


@pytest.mark.parametrize("path", ["api", "admin", "orm"])
def test_author_rename_reaches_embedded_author_everywhere(api, as_user, world, path, client):
    author, _, staff, post = world
    warm(api, post_views(post) + [f"/api/users/{author.pk}/", "/api/users/"])
    if path == "api":
        assert (
            as_user(author)
            .patch(f"/api/users/{author.pk}/", {"display_name": "Ada L."}, format="json")
            .status_code
            == 200
        )
    elif path == "admin":
        client.force_login(staff)
        response = client.post(
            f"/admin/users/user/{author.pk}/change/",
            {
                "username": author.username,
                "email": author.email,
                "display_name": "Ada L.",
                "bio": "",
                "is_active": "on",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
        )
        assert response.status_code == 302, response.content[:2000]
    else:
        obj = User.objects.get(pk=author.pk)
        obj.display_name = "Ada L."
        obj.save()
    assert api.get(f"/api/posts/{post.pk}/").json()["author"]["display_name"] == "Ada L."
    for url in post_views(post)[1:]:
        assert api.get(url).json()["results"][0]["author"]["display_name"] == "Ada L.", url
    assert api.get(f"/api/users/{author.pk}/").json()["display_name"] == "Ada L."
    names = {u["id"]: u["display_name"] for u in api.get("/api/users/").json()["results"]}
    assert names[author.pk] == "Ada L."


def test_user_delete_removes_user_posts_and_counts(api, as_user, world):
    author, _, staff, post = world
    warm(api, post_views(post) + [f"/api/users/{author.pk}/", "/api/users/"])
    assert as_user(staff).delete(f"/api/users/{author.pk}/").status_code == 204
    assert api.get(f"/api/users/{author.pk}/").status_code == 404
    assert api.get(f"/api/posts/{post.pk}/").status_code == 404
    assert api.get("/api/posts/").json()["count"] == 0
    assert author.pk not in [u["id"] for u in api.get("/api/users/").json()["results"]]


def test_user_created_through_api_is_written_through(api, as_user, world):
    _, _, staff, _ = world
    warm(api, ["/api/users/"])
    created = as_user(staff).post(
        "/api/users/",
        {"username": "newbie", "password": "long-enough-pw", "email": "n@example.com"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert "password" not in created.json()
    detail = api.get(f"/api/users/{created.json()['id']}/")
    assert detail["X-Cache"] == "HIT" and detail.json()["username"] == "newbie"
    assert "newbie" in [u["username"] for u in api.get("/api/users/").json()["results"]]


def test_saving_an_out_of_date_instance_invalidates_what_the_row_held(api, world):
    """A loads the draft; B publishes it (lists and count now show it); A saves an edit that
    writes status=draft back. What A's save moved away from is the row's published state."""
    author, _, _, _ = world
    draft = make_post(author, title="draft", category="redis", status="draft")
    stale_copy = Post.objects.get(pk=draft.pk)
    Post.objects.filter(pk=draft.pk).update(status="published")
    warm(api, ["/api/posts/?category=redis", f"/api/users/{author.pk}/"])
    assert "draft" in titles(api, "/api/posts/?category=redis")
    stale_copy.title = "edited"
    stale_copy.save()
    assert "edited" not in titles(api, "/api/posts/?category=redis")
    assert "draft" not in titles(api, "/api/posts/?category=redis")
    assert api.get(f"/api/users/{author.pk}/").json()["post_count"] == 1


def test_save_with_update_fields_keeps_the_unsaved_fields(api, world):
    author, other, _, post = world
    warm(api, [f"/api/users/{author.pk}/", f"/api/users/{other.pk}/"])
    obj = Post.objects.get(pk=post.pk)
    obj.author, obj.title = other, "renamed"
    obj.save(update_fields=["title"])  # the author change is not saved
    assert api.get(f"/api/posts/{post.pk}/").json()["title"] == "renamed"
    assert api.get(f"/api/users/{author.pk}/")["X-Cache"] == "HIT"


def test_a_login_invalidates_nothing(api, world, client):
    author, _, staff, _ = world
    warm(api, [f"/api/users/{staff.pk}/", "/api/users/"])
    from tests.factories import PASSWORD

    response = client.post("/admin/login/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302 and response.wsgi_request.user == staff  # saves last_login
    assert api.get(f"/api/users/{staff.pk}/")["X-Cache"] == "HIT"
    assert api.get("/api/users/")["X-Cache"] == "HIT"
