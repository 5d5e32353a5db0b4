"""The fast path's reader (``api.readers.fast_reader``) and DRF's agree for every credential
shape: where the fast path answers, it names the reader DRF names; where DRF refuses (its 401),
the fast path steps aside (``None``) and lets DRF answer."""

import pytest
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings

from api.readers import fast_reader
from tests.factories import make_user

REFUSED = "refused"  # DRF raises AuthenticationFailed: the client gets a 401


def _request(authorization: bytes | None, session_user=None):
    """A GET as the middleware hands it to a view: session loaded, ``request.user`` set."""
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization.decode("latin-1")}
    request = RequestFactory().get("/api/posts/", **extra)
    SessionMiddleware(lambda r: None).process_request(request)
    if session_user is not None:
        from django.contrib.auth import login

        session_user.backend = "django.contrib.auth.backends.ModelBackend"
        login(request, session_user)
    AuthenticationMiddleware(lambda r: None).process_request(request)
    return request


def _drf_reader(request):
    drf = Request(
        request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    )
    try:
        return drf.user
    except AuthenticationFailed:
        return REFUSED


def _who(user) -> object:
    return "anonymous" if not user.is_authenticated else user.pk


@pytest.fixture
def people(db):
    reader, other, inactive = make_user(), make_user(), make_user(is_active=False)
    return {
        "reader": reader,
        "other": other,
        "token": Token.objects.create(user=reader).key,
        "other_token": Token.objects.create(user=other).key,
        "inactive_token": Token.objects.create(user=inactive).key,
    }


# (name, Authorization header (a template over people), session user, whether the fast path answers)
SHAPES = [
    ("no credential", None, None, True),
    ("a session", None, "reader", True),
    ("a valid token", b"Token {token}", None, True),
    ("a valid token, lower-case keyword", b"token {token}", None, True),
    ("a valid token beside another user's session", b"Token {token}", "other", True),
    ("an unknown token", b"Token 0123456789abcdef0123456789abcdef01234567", None, False),
    ("an unknown token beside a session", b"Token nosuchtoken", "reader", False),
    ("an inactive user's token", b"Token {inactive_token}", None, False),
    ("the keyword alone", b"Token", None, False),
    ("a token in two parts", b"Token {token} extra", None, False),
    ("a token that is not UTF-8", b"Token \xff\xfe", None, False),
    ("another scheme", b"Bearer {token}", None, False),
    ("another scheme beside a session", b"Basic dXNlcjpwYXNz", "reader", False),
    ("an empty header", b"", None, False),
]


@pytest.mark.parametrize(
    ("name", "header", "session", "answers"), SHAPES, ids=[s[0] for s in SHAPES]
)
def test_the_fast_path_and_drf_agree_on_the_reader(people, name, header, session, answers):
    authorization = (
        None
        if header is None
        else header.replace(b"{token}", people["token"].encode()).replace(
            b"{inactive_token}", people["inactive_token"].encode()
        )
    )
    fast = fast_reader(_request(authorization, people.get(session)))
    drf = _drf_reader(_request(authorization, people.get(session)))
    if answers:
        assert fast is not None, f"{name}: the fast path should answer"
        assert drf is not REFUSED and _who(fast) == _who(drf), f"{name}: {_who(fast)} != {drf}"
    else:
        assert fast is None, f"{name}: the fast path must leave this to DRF (DRF: {drf})"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_token_created_while_its_user_is_deactivated_loses_read_access(live, settings):
    """The race held open: the deactivation has listed the user's tokens (none yet: each is
    dropped from the cache after commit) and has not committed; a token is created meanwhile by
    a path that does not lock the user (the admin's form, ``drf_create_token``) and read through
    both workers. Once the deactivation commits, the token reads nothing."""
    import threading

    import requests
    from django.db import connection, transaction

    from tests.conftest import closing_connections
    from tests.live import HTTP_TIMEOUT, wait_until

    user = make_user()
    token = Token(user_id=user.pk, key=Token.generate_key())
    # The reader's key is a hash keyed by SECRET_KEY: the server shares this process's, so the
    # deactivation's invalidation (made here) names the entries the server reads.
    server = live(workers=2, env={"DJANGO_SECRET_KEY": settings.SECRET_KEY})

    def reads() -> list[int]:
        url, headers = server.url + "/api/posts/", {"Authorization": f"Token {token.key}"}
        return [
            requests.get(url, headers=headers, timeout=HTTP_TIMEOUT).status_code for _ in range(8)
        ]

    listed, commit = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def recorded(work):
        @closing_connections
        def run() -> None:
            try:
                work()
            except BaseException as error:  # the test fails with it, not a thread warning
                seen[work.__name__] = error
                listed.set()

        return threading.Thread(target=run)

    def deactivate() -> None:
        with transaction.atomic():
            row = type(user).objects.get(pk=user.pk)
            row.is_active = False
            row.save()  # lists the user's tokens for the cache work after commit
            listed.set()
            commit.wait(timeout=HTTP_TIMEOUT)

    def create_token() -> None:
        seen["pid"] = connection.cursor().connection.info.backend_pid
        token.save()
        seen["created"] = True

    def created_or_waiting() -> bool:
        if "created" in seen or "create_token" in seen:
            return True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [seen.get("pid", 0)]
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    deactivating, creating = recorded(deactivate), recorded(create_token)
    deactivating.start()
    try:
        assert listed.wait(timeout=HTTP_TIMEOUT) and "deactivate" not in seen, seen
        creating.start()
        wait_until(created_or_waiting, message="the token was neither created nor waiting")
        during = reads()  # the token's reader, read (and cached) while the race is open
    finally:
        commit.set()
        deactivating.join()
        if creating.ident is not None:
            creating.join()
    assert "deactivate" not in seen and "create_token" not in seen, seen
    after = reads()
    assert set(after) == {401}, f"after the deactivation committed: {after} (during: {during})"
