"""Bad input is a 4xx JSON error that names the problem, never a 500, and changes nothing."""

import pytest

from posts.models import Post
from tests.factories import make_post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query,field",
    [
        ("author=abc", "author"),
        ("author=-1", "author"),
        ("author=99999999999999999999", "author"),
        ("category=bad*slug", "category"),
        ("category=a:b", "category"),
        ("category=" + "x" * 51, "category"),
        ("category=", "category"),
        ("page=", "page"),
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=-3", "page"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query, field):
    response = api.get(f"/api/posts/?{query}")
    assert response.status_code == 400 and field in response.json()


@pytest.mark.parametrize(
    "url", ["/api/posts/?page=5", "/api/users/?page=9", "/api/posts/?category=x&page=2"]
)
def test_page_out_of_range_is_404(api, url):
    response = api.get(url)
    assert response.status_code == 404 and response.json()["detail"] == "Invalid page."


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "99999999999999999999", "1e3", "%C2%B2"])
def test_bad_ids_are_404(api, user, pk):
    for base in ("/api/posts/", "/api/users/"):
        assert api.get(f"{base}{pk}/").status_code == 404


@pytest.mark.parametrize(
    "body,field",
    [
        ({"title": "", "category": "ok"}, "title"),
        ({"title": "x" * 201, "category": "ok"}, "title"),
        ({"title": "ok", "category": "not a slug"}, "category"),
        ({"title": "ok", "category": "x" * 51}, "category"),
        ({"title": "ok", "category": "ok", "status": "secret"}, "status"),
        ({"title": ["list"], "category": "ok"}, "title"),
        ({"category": "ok"}, "title"),
    ],
)
def test_invalid_post_bodies_are_400(as_user, user, body, field):
    response = as_user(user).post("/api/posts/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert Post.objects.count() == 0


def test_malformed_json_is_400(as_user, user):
    post = make_post(user, title="kept")
    client = as_user(user)
    for method in (client.post, client.patch):
        url = "/api/posts/" if method == client.post else f"/api/posts/{post.pk}/"
        response = method(url, data=b'{"title": ', content_type="application/json")
        assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert Post.objects.get(pk=post.pk).title == "kept"


@pytest.mark.parametrize("body", [b"null", b"[1, 2]", b'"text"', b"42", b"true"])
def test_a_json_body_that_is_not_an_object_is_400_on_every_write(as_user, api, user, staff, body):
    """Every write endpoint, as the owner and as staff: a 400 that says so, nothing changed."""
    post = make_post(user, title="kept")
    writes = [
        (as_user(user).post, "/api/posts/"),
        (as_user(user).put, f"/api/posts/{post.pk}/"),
        (as_user(user).patch, f"/api/posts/{post.pk}/"),
        (as_user(staff).post, "/api/users/"),
        (as_user(user).put, f"/api/users/{user.pk}/"),
        (as_user(user).patch, f"/api/users/{user.pk}/"),
        (as_user(staff).patch, f"/api/users/{user.pk}/"),
        (api.post, "/api/auth/token/"),
    ]
    for method, url in writes:
        response = method(url, data=body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
        assert response.json() == {"detail": "JSON body must be an object."}, url
    assert Post.objects.get(pk=post.pk).title == "kept"


def test_writes_need_authentication_and_ownership(api, as_user, user, staff):
    from tests.factories import make_user

    post = make_post(user)
    assert (
        api.post("/api/posts/", {"title": "x", "category": "y"}, format="json").status_code == 401
    )
    assert (
        as_user(make_user())
        .patch(f"/api/posts/{post.pk}/", {"title": "x"}, format="json")
        .status_code
        == 403
    )
    assert (
        as_user(staff)
        .patch(f"/api/posts/{post.pk}/", {"title": "by staff"}, format="json")
        .status_code
        == 200
    )
    assert (
        as_user(user)
        .post("/api/users/", {"username": "x", "password": "long-enough"}, format="json")
        .status_code
        == 403
    )
    assert (
        as_user(make_user())
        .patch(f"/api/users/{user.pk}/", {"bio": "x"}, format="json")
        .status_code
        == 403
    )
    assert as_user(user).delete(f"/api/users/{user.pk}/").status_code == 403


def test_author_cannot_be_forged(as_user, user, staff):
    response = as_user(user).post(
        "/api/posts/", {"title": "t", "category": "c", "author": staff.pk}, format="json"
    )
    assert response.status_code == 201 and response.json()["author"]["id"] == user.pk


@pytest.mark.parametrize(
    "body,field",
    [
        ({"username": "", "password": "long-enough-pw"}, "username"),
        ({"username": "a b*c", "password": "long-enough-pw"}, "username"),
        ({"username": "ok", "password": "short"}, "password"),
        ({"username": "ok"}, "password"),
        ({"username": "ok", "password": "long-enough-pw", "email": "nope"}, "email"),
        (
            {"username": "ok", "password": "long-enough-pw", "display_name": "x" * 151},
            "display_name",
        ),
    ],
)
def test_invalid_user_bodies_are_400(as_user, staff, body, field):
    response = as_user(staff).post("/api/users/", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_duplicate_username_is_400(as_user, staff, user):
    response = as_user(staff).post(
        "/api/users/", {"username": user.username, "password": "long-enough-pw"}, format="json"
    )
    assert response.status_code == 400 and "username" in response.json()


def test_token_endpoint(api, user):
    from tests.factories import PASSWORD

    assert (
        api.post(
            "/api/auth/token/", {"username": user.username, "password": "wrong"}, format="json"
        ).status_code
        == 400
    )
    token = api.post(
        "/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    ).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert (
        api.post("/api/posts/", {"title": "t", "category": "c"}, format="json").status_code == 201
    )


def test_schema_and_docs_are_served(api, db):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/posts/{id}/" in schema.content
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_put_of_a_user_needs_no_password(as_user, user):
    body = {"username": user.username, "email": user.email, "display_name": "New", "bio": "b"}
    response = as_user(user).put(f"/api/users/{user.pk}/", body, format="json")
    assert response.status_code == 200 and response.json()["display_name"] == "New"
