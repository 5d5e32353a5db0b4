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
