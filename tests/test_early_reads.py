"""The early read path (``api.cached_reads.EarlyReadsMiddleware``) answers exactly as the full path
does, and a permission added to a viewset guards its cached reads (SPEC 8.11, 5).

Every case is asked of the full path (the early middleware removed), of the project's own stack,
then of the full path again, so both answers compared are hits; they must agree on status, body
and every header. A test middleware below the early one counts what reaches the full path, so a
case the early path should answer fails if it did not."""

import pytest
from django.conf import settings as project_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from caching.ops import keyspace
from posts.models import Post
from tests.factories import make_post, make_user

pytestmark = pytest.mark.django_db

EARLY = "api.cached_reads.EarlyReadsMiddleware"
BELOW = "tests.test_early_reads.CountBelow"
REACHED_BELOW: list[str] = []


class CountBelow:
    """Records every request that went on past the early path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        REACHED_BELOW.append(request.path)
        return self.get_response(request)


def stacks() -> tuple[list[str], list[str]]:
    """(the project's stack with the counter below the early path, the full path alone)."""
    middleware = list(project_settings.MIDDLEWARE)
    early = [*middleware]
    early.insert(middleware.index(EARLY) + 1, BELOW)
    return early, [name for name in middleware if name != EARLY]


def answer(settings, middleware: list[str], path: str, headers: dict, session=None):
    settings.MIDDLEWARE = middleware
    client = Client() if session is not None else APIClient()
    if session is not None:
        client.force_login(session)
    response = client.get(path, headers={"X-Request-ID": "same-id", **headers})
    return response.status_code, response.content, dict(response.headers)


@pytest.fixture
def world(db):
    author, staff = make_user(), make_user(is_staff=True)
    post = make_post(author, title="public", category="news")
    draft = make_post(author, title="draft", status=Post.Status.DRAFT)
    inactive = make_user(is_active=False)
    return {
        "author": author,
        "staff": staff,
        "post": post,
        "draft": draft,
        "token": Token.objects.create(user=author).key,
        "staff_token": Token.objects.create(user=staff).key,
        "inactive_token": Token.objects.create(user=inactive).key,
    }


# (reader, Authorization header template or None) and whether the early path answers it.
READERS = [
    ("anonymous", None, True),
    ("token", "Token {token}", True),
    ("token, lower-case keyword", "token {token}", True),
    ("staff token", "Token {staff_token}", True),
    ("unknown token", "Token 0123456789abcdef0123456789abcdef01234567", False),
    ("inactive user's token", "Token {inactive_token}", False),
    ("keyword alone", "Token", False),
    ("token in two parts", "Token {token} extra", False),
    ("another scheme: anonymous to DRF", "Bearer {token}", True),
    ("empty header: anonymous to DRF", "", True),
]
PATHS = [
    "/api/posts/{post}/",
    "/api/posts/?category=news",
    "/api/posts/?author={author}&page=1",
    "/api/posts/{draft}/",
    "/api/posts/999999/",
    "/api/posts/?page=abc",
    "/api/posts/?page=99",
    "/api/users/{author}/",
    "/api/users/",
]


def _fill(template: str, world: dict) -> str:
    return template.format(**{k: (v.pk if hasattr(v, "pk") else v) for k, v in world.items()})


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("reader", "header", "early"), READERS, ids=[r[0] for r in READERS])
def test_the_early_path_answers_as_the_full_path(settings, world, path, reader, header, early):
    early_stack, full_stack = stacks()
    path = _fill(path, world)
    headers = {} if header is None else {"Authorization": _fill(header, world)}
    answer(settings, full_stack, path, headers)  # warm: the compared answers are hits
    REACHED_BELOW.clear()
    got = answer(settings, early_stack, path, headers)
    expected = answer(settings, full_stack, path, headers)
    assert got == expected
    assert (REACHED_BELOW == []) is early, f"answered early: {REACHED_BELOW == []}"


@pytest.mark.parametrize(
    ("case", "headers", "status", "early"),
    [
        ("an ETag the client has", {"If-None-Match": "{etag}"}, 304, True),
        ("another host: the early path's own 400", {"Host": "evil.example"}, 400, True),
        ("HTML asked for: JSON from DRF", {"Accept": "text/html"}, 200, False),
    ],
)
def test_conditional_requests_hosts_and_negotiation_agree(
    settings, world, case, headers, status, early
):
    early_stack, full_stack = stacks()
    path = f"/api/posts/{world['post'].pk}/"
    etag = answer(settings, full_stack, path, {})[2]["ETag"]
    headers = {name: value.format(etag=etag) for name, value in headers.items()}
    REACHED_BELOW.clear()
    got = answer(settings, early_stack, path, headers)
    assert got == answer(settings, full_stack, path, headers)
    assert got[0] == status
    assert (REACHED_BELOW == []) is early


@pytest.mark.parametrize("proto", ["http", "https"])
def test_under_https_a_plain_request_is_redirected_on_both_paths(settings, world, proto):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    early_stack, full_stack = stacks()
    path, headers = f"/api/posts/{world['post'].pk}/", {"X-Forwarded-Proto": proto}
    answer(settings, full_stack, path, headers)
    got = answer(settings, early_stack, path, headers)
    assert got == answer(settings, full_stack, path, headers)
    if proto == "http":
        assert got[0] == 301 and got[2]["Location"].startswith("https://")
    else:
        assert got[0] == 200 and "Strict-Transport-Security" in got[2]


@pytest.mark.parametrize("path", ["/api/users/{author}/", "/api/users/", "/api/posts/{post}/"])
def test_a_session_reader_on_the_full_path_gets_what_their_token_gets_early(settings, world, path):
    early_stack, _ = stacks()
    path = _fill(path, world)
    by_token = {"Authorization": f"Token {world['staff_token']}"}
    answer(settings, early_stack, path, by_token)
    got = answer(settings, early_stack, path, by_token)
    by_session = answer(settings, early_stack, path, {}, session=world["staff"])
    assert got == by_session
    assert "X-Frame-Options" in got[2] and got[2]["X-Cache"] == "HIT"


READS = [("anonymous", None), ("token", "token"), ("staff token", "staff_token"), ("session", "")]


def reader(world: dict, token: str | None) -> APIClient:
    """A client reading as one of ``READS``: a token by its name in ``world``, "" a session."""
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world[token]}")
    elif token == "":
        client.force_login(world["staff"])
    return client


def hit(client: APIClient, path: str):
    """The second read of ``path``: a hit where it is cached."""
    client.get(path)
    return client.get(path)


@pytest.mark.urls("tests.refusing.urls")
@pytest.mark.parametrize("viewset", ["posts", "users"])
def test_a_permission_that_refuses_reads_refuses_every_cached_read(world, viewset):
    """8 reads per viewset (4 readers x detail and list), each cached and served 200 through the
    viewset as it is, each refused through the same viewset with the permission added."""
    target = world["post"].pk if viewset == "posts" else world["author"].pk
    refused = []
    for name, token in READS:
        client = reader(world, token)
        for kind, suffix in (("detail", f"{target}/"), ("list", "")):
            served = hit(client, f"/api/{viewset}/{suffix}")
            assert served.status_code == 200 and served["X-Cache"] == "HIT"
            response = client.get(f"/api/refused/{viewset}/{suffix}")
            assert "X-Cache" not in response
            assert response.json()["detail"]
            refused.append((name, kind, response.status_code))
    assert [status for *_, status in refused] == [401, 401, 403, 403, 403, 403, 403, 403], refused


@pytest.mark.urls("tests.refusing.urls")
def test_an_object_check_that_refuses_reads_refuses_cached_details(world):
    for name, token in READS:
        client = reader(world, token)
        assert hit(client, f"/api/posts/{world['post'].pk}/")["X-Cache"] == "HIT", name
        detail = client.get(f"/api/refused-objects/posts/{world['post'].pk}/")
        assert detail.status_code in (401, 403) and "X-Cache" not in detail, name
        listed = hit(client, "/api/refused-objects/posts/")  # objects: on details only
        assert listed.status_code == 200 and listed["X-Cache"] == "HIT", name


@pytest.mark.urls("tests.refusing.urls")
@pytest.mark.parametrize("path", ["/api/actions/posts/{post}/summary/", "/api/actions/posts/bulk/"])
def test_a_viewsets_extra_actions_are_its_own_on_both_paths(settings, world, path):
    early_stack, full_stack = stacks()
    path = _fill(path, world)
    got = answer(settings, early_stack, path, {})
    assert got == answer(settings, full_stack, path, {})
    assert got[0] == (200 if "summary" in path else 405)


@pytest.mark.parametrize("reader", ["unknown token", "inactive user's token"])
def test_a_read_handed_on_to_the_full_path_looks_its_token_up_once(settings, world, reader):
    """The early path authenticates, refuses, and hands the request on: the full path reuses
    that outcome, so the database (and the cache's counts) see one lookup, as without it."""
    early_stack, full_stack = stacks()
    header = dict((r[0], r[1]) for r in READERS)[reader]
    headers, path = {"Authorization": _fill(header, world)}, f"/api/posts/{world['post'].pk}/"
    answer(settings, full_stack, path, headers)  # the outbox checked, the post cached
    counted = []
    for stack in (early_stack, full_stack):
        keyspace.clear_namespace("reader")
        with CaptureQueriesContext(connection) as queries:
            assert answer(settings, stack, path, headers)[0] == 401
        counted.append(len([q for q in queries if "authtoken_token" in q["sql"]]))
    assert counted == [1, 1]
