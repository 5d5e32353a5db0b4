"""Who is reading, when it can be known without DRF's request cycle: the fast path's side of
authentication, which must agree with DRF's (``tests/test_readers.py`` checks every credential
shape)."""

from typing import Any

from django.http import HttpRequest
from rest_framework.authentication import get_authorization_header
from rest_framework.authtoken.models import Token


def fast_reader(request: HttpRequest) -> Any:
    """The reader, when it can be known without DRF: anonymous, a session, or a valid token
    (one query). ``None`` when DRF must answer (a malformed or unknown credential, an inactive
    user's token: its 401)."""
    if "HTTP_AUTHORIZATION" not in request.META:
        return request.user
    # Parsed as TokenAuthentication does; the function only reads request.META, which a plain
    # HttpRequest has (the stubs ask for DRF's Request).
    parts = get_authorization_header(request).split()  # type: ignore[arg-type]
    if len(parts) != 2 or parts[0].lower() != b"token":
        return None
    try:
        key = parts[1].decode()
    except UnicodeError:
        return None
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None and token.user.is_active else None
