"""Bad input is a 4xx JSON error that names the problem, never a 500, and changes nothing."""

import pytest

from posts.models import Post
from tests.factories import PASSWORD, make_post, make_user

pytestmark = pytest.mark.django_db

# The messages the API answers with (DRF's and Django's wording), named once.
INTEGER = "A valid integer is required."
AT_LEAST_1 = "Ensure this value is greater than or equal to 1."
SLUG = 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'
BLANK = "This field may not be blank."
REQUIRED = "This field is required."
NOT_FOUND = {"detail": "Not found."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


def assert_error(response, status: int, body: dict) -> None:
    """``response`` is a ``status`` error in JSON whose body is exactly ``body``."""
    request = response.request
    where = f"{request['REQUEST_METHOD']} {request['PATH_INFO']}?{request.get('QUERY_STRING', '')}"
    assert response.status_code == status, (where, response.status_code, response.content)
    media_type = response["Content-Type"].split(";")[0].strip()
    assert media_type == "application/json", (where, response["Content-Type"])
    assert response.json() == body, where


@pytest.mark.parametrize(
    "query,field,message",
    [
        ("author=abc", "author", INTEGER),
        ("author=-1", "author", AT_LEAST_1),
        (
            "author=99999999999999999999",
            "author",
            f"Ensure this value is less than or equal to {2**63 - 1}.",
        ),
        ("category=bad*slug", "category", SLUG),
        ("category=a:b", "category", SLUG),
        ("category=" + "x" * 51, "category", too_long(50)),
        ("category=", "category", BLANK),
        ("page=", "page", INTEGER),
        ("page=abc", "page", INTEGER),
        ("page=0", "page", AT_LEAST_1),
        ("page=-3", "page", AT_LEAST_1),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, query, field, message):
    assert_error(api.get(f"/api/posts/?{query}"), 400, {field: [message]})


@pytest.mark.parametrize(
    "url", ["/api/posts/?page=5", "/api/users/?page=9", "/api/posts/?category=x&page=2"]
)
def test_page_out_of_range_is_404(api, url):
    assert_error(api.get(url), 404, {"detail": "Invalid page."})


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "99999999999999999999", "1e3", "%C2%B2"])
def test_bad_ids_are_404(api, user, pk):
    for base in ("/api/posts/", "/api/users/"):
        assert_error(api.get(f"{base}{pk}/"), 404, NOT_FOUND)


@pytest.mark.parametrize(
    "body,field,message",
    [
        ({"title": "", "category": "ok"}, "title", BLANK),
        ({"title": "x" * 201, "category": "ok"}, "title", too_long(200)),
        ({"title": "ok", "category": "not a slug"}, "category", SLUG),
        ({"title": "ok", "category": "x" * 51}, "category", too_long(50)),
        (
            {"title": "ok", "category": "ok", "status": "secret"},
            "status",
            '"secret" is not a valid choice.',
        ),
        ({"title": ["list"], "category": "ok"}, "title", "Not a valid string."),
        ({"category": "ok"}, "title", REQUIRED),
    ],
)
def test_invalid_post_bodies_are_400(as_user, user, body, field, message):
    response = as_user(user).post("/api/posts/", body, format="json")
    assert_error(response, 400, {field: [message]})
    assert Post.objects.count() == 0


def test_malformed_json_is_400(as_user, user):
    post = make_post(user, title="kept")
    client = as_user(user)
    for method in (client.post, client.patch):
        url = "/api/posts/" if method == client.post else f"/api/posts/{post.pk}/"
        response = method(url, data=b'{"title": ', content_type="application/json")
        # DRF's prefix, then where the parser stopped (json's message for this body)
        body = {"detail": "JSON parse error - Expecting value: line 1 column 11 (char 10)"}
        assert_error(response, 400, body)
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
        assert_error(response, 400, {"detail": "JSON body must be an object."})
    assert Post.objects.get(pk=post.pk).title == "kept"


def test_writes_need_authentication_and_ownership(api, as_user, user, staff):
    post = make_post(user)
    assert_error(
        api.post("/api/posts/", {"title": "x", "category": "y"}, format="json"),
        401,
        {"detail": "Authentication credentials were not provided."},
    )
    assert_error(
        as_user(make_user()).patch(f"/api/posts/{post.pk}/", {"title": "x"}, format="json"),
        403,
        FORBIDDEN,
    )
    assert (
        as_user(staff)
        .patch(f"/api/posts/{post.pk}/", {"title": "by staff"}, format="json")
        .status_code
        == 200
    )
    assert_error(
        as_user(user).post(
            "/api/users/", {"username": "x", "password": "long-enough"}, format="json"
        ),
        403,
        FORBIDDEN,
    )
    assert_error(
        as_user(make_user()).patch(f"/api/users/{user.pk}/", {"bio": "x"}, format="json"),
        403,
        FORBIDDEN,
    )
    assert_error(as_user(user).delete(f"/api/users/{user.pk}/"), 403, FORBIDDEN)


def test_author_cannot_be_forged(as_user, user, staff):
    response = as_user(user).post(
        "/api/posts/", {"title": "t", "category": "c", "author": staff.pk}, format="json"
    )
    assert response.status_code == 201 and response.json()["author"]["id"] == user.pk


@pytest.mark.parametrize(
    "body,field,message",
    [
        ({"username": "", "password": "long-enough-pw"}, "username", BLANK),
        (
            {"username": "a b*c", "password": "long-enough-pw"},
            "username",
            "Enter a valid username. This value may contain only letters, numbers, and "
            "@/./+/-/_ characters.",
        ),
        (
            {"username": "ok", "password": "short"},
            "password",
            "This password is too short. It must contain at least 8 characters.",
        ),
        ({"username": "ok"}, "password", REQUIRED),
        (
            {"username": "ok", "password": "long-enough-pw", "email": "nope"},
            "email",
            "Enter a valid email address.",
        ),
        (
            {"username": "ok", "password": "long-enough-pw", "display_name": "x" * 151},
            "display_name",
            too_long(150),
        ),
    ],
)
def test_invalid_user_bodies_are_400(as_user, staff, body, field, message):
    response = as_user(staff).post("/api/users/", body, format="json")
    assert_error(response, 400, {field: [message]})


def test_duplicate_username_is_400(as_user, staff, user):
    response = as_user(staff).post(
        "/api/users/", {"username": user.username, "password": "long-enough-pw"}, format="json"
    )
    assert_error(response, 400, {"username": ["A user with that username already exists."]})


def test_token_endpoint(api, user):
    assert_error(
        api.post(
            "/api/auth/token/", {"username": user.username, "password": "wrong"}, format="json"
        ),
        400,
        {"non_field_errors": ["Unable to log in with provided credentials."]},
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


def test_the_fast_parameter_rules_defer_to_what_only_the_serializer_checks():
    """The hit path's rules come from the serializer's bounds; a bound they cannot express (a
    minimum above 1, a field's own validators, ``validate_<name>``) leaves it to the serializer."""
    from rest_framework import serializers

    from api.params import PageQuery, _fast_params

    def refuse_bad(value):
        if value == "bad":
            raise serializers.ValidationError("no")

    class Query(PageQuery):
        size = serializers.IntegerField(min_value=5, max_value=50, required=False)
        tag = serializers.SlugField(max_length=10, required=False, validators=[refuse_bad])

        def validate_page(self, value):
            return value

    assert _fast_params({"size": "1"}, Query) is None
    assert _fast_params({"tag": "bad"}, Query) is None
    assert _fast_params({"page": "500"}, Query) is None
    assert _fast_params({"page": "2", "other": "x"}, PageQuery) == {"page": 2}
