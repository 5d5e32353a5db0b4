"""Token authentication through the cache: DRF's ``TokenAuthentication`` whose lookup for a safe
method is a cache entry (namespace ``reader``), so both read paths authenticate with the same code
(docs/reads.md, "One request path"; docs/near-cache.md, "The token's reader"). A write gets the real
``User`` and ``Token``, as from DRF's own class: it and its permission checks may need any field."""

import functools
import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from caching import (
    CacheKey,
    Changes,
    Entry,
    RowChange,
    get_or_load,
    register_model,
    register_namespace,
    secret_key,
)

READER = "reader"
_FOUND = "_token_reader"  # the request attribute that holds its authentication's outcome


class TokenReader:
    """The reader of a valid token, as the read views need it. Any other attribute (a permission
    class asking for ``is_superuser`` or ``groups``) is the real ``User``'s, loaded once."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, pk: int, is_staff: bool) -> None:
        self.pk = self.id = pk
        self.is_staff = is_staff

    @functools.cached_property
    def user(self) -> Any:
        return get_user_model()._default_manager.get(pk=self.pk)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.user, name)


@functools.cache
def _hash_key(secret: str) -> bytes:
    # A fixed label, not the module's name: changing it moves every reader key (a deploy would
    # read readers the old release cannot invalidate).
    return hashlib.sha256(b"api.readers:" + secret.encode()).digest()


def reader_key(token: str) -> CacheKey:
    """A keyed hash of the token (keyed by ``SECRET_KEY``): someone who can write to Redis but
    does not know the key cannot place a reader under a token they choose."""
    keyed = hmac.new(_hash_key(settings.SECRET_KEY), token.encode(), hashlib.sha256).hexdigest()
    return secret_key(READER, keyed)


def _reader(token: str) -> Entry | None:
    found = Token.objects.select_related("user").filter(key=token).first()
    if found is None:
        return None  # unknown tokens are not cached: each would be a key of its own
    user = found.user
    return Entry((b"",), {"id": user.pk, "staff": user.is_staff, "active": user.is_active})


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, its header parsing and its errors; for a safe method the
    token's reader comes from the cache (one instance serves one request, as in DRF)."""

    reads = False

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        self.reads = request.method in SAFE_METHODS
        if not self.reads:
            return super().authenticate(request)
        # Once per request: a read the early path hands on to the full path is not looked up,
        # nor counted, twice (api.cached_reads).
        outcome = getattr(request._request, _FOUND, None)
        if outcome is None:
            try:
                outcome = super().authenticate(request)
            except AuthenticationFailed as refused:
                outcome = refused
            setattr(request._request, _FOUND, outcome)
        if isinstance(outcome, AuthenticationFailed):
            raise outcome
        return outcome

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not self.reads:
            return super().authenticate_credentials(key)
        entry = get_or_load(reader_key(key), lambda: _reader(key)).value
        if entry is None:
            raise AuthenticationFailed(_("Invalid token."))
        if not entry.meta["active"]:
            raise AuthenticationFailed(_("User inactive or deleted."))
        return TokenReader(entry.meta["id"], entry.meta["staff"]), key


def _token_changes(row: RowChange) -> Changes:
    return Changes(drop={reader_key(row.pk)})


def _account_changes(row: RowChange) -> Changes:
    """Deactivation and staff changes reach the user's tokens' readers: two queries in the
    write's transaction, when either field may have moved. The user's row is locked first, so no
    token commits in between (docs/near-cache.md, "The token's reader")."""
    if row.kind != "update":
        return Changes()  # a new user has no token; a deleted one's tokens go with it
    before, after = row.before, row.after
    if before and after and all(before[f] == after[f] for f in ("is_active", "is_staff")):
        return Changes()
    if transaction.get_connection().in_atomic_block:  # else the write has committed already
        users = get_user_model()._base_manager.select_for_update().filter(pk=row.pk)
        users.values_list("pk", flat=True).first()
    tokens = Token.objects.filter(user_id=row.pk).values_list("key", flat=True)
    return Changes(drop={reader_key(token) for token in tokens})


def register() -> None:
    register_namespace(READER)
    register_model(Token, tracked=(), changes=_token_changes)
    register_model(get_user_model(), tracked=("is_active", "is_staff"), changes=_account_changes)
