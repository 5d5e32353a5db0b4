"""Bounds that hold below the API too: the database refuses over-long text, and the client
address of the login lockout trusts only what the configured proxies added."""

import pytest
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from posts.models import BODY_MAX_LENGTH, Post
from tests.factories import make_user
from users.lockout import client_address
from users.models import BIO_MAX_LENGTH


@pytest.mark.django_db
def test_the_database_refuses_an_over_long_body_or_bio(user):
    with pytest.raises(IntegrityError, match="post_body_max_length"), transaction.atomic():
        Post.objects.create(author=user, title="t", category="c", body="x" * (BODY_MAX_LENGTH + 1))
    with pytest.raises(IntegrityError, match="user_bio_max_length"), transaction.atomic():
        make_user(bio="y" * (BIO_MAX_LENGTH + 1))
    Post.objects.create(author=user, title="t", category="c", body="x" * BODY_MAX_LENGTH)


@pytest.mark.parametrize(
    "proxies,forwarded,expected",
    [
        (0, "198.51.100.7", "127.0.0.1"),  # no proxy: the header is the client's own claim
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "203.0.113.66, 198.51.100.7", "198.51.100.7"),  # a forged entry on the left is ignored
        (2, "198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (2, "198.51.100.7", "127.0.0.1"),  # fewer hops than proxies: misconfigured, trust nothing
        (1, "", "127.0.0.1"),
    ],
)
def test_the_client_address_is_what_the_nearest_trusted_proxy_saw(settings, proxies, forwarded, expected):
    settings.PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
