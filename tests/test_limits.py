"""Bounds that hold below the API too: the database refuses over-long text, and the client
address of the login lockout trusts only what the configured proxies added."""

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from api.net import client_address
from posts.models import BODY_MAX_LENGTH, Post
from tests.factories import make_user
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
        (1, "198.51.100.7:4711", "127.0.0.1"),  # not an address: the proxy is misconfigured
    ],
)
def test_the_client_address_is_what_the_nearest_trusted_proxy_saw(
    settings, proxies, forwarded, expected
):
    settings.PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


@pytest.mark.django_db
def test_staff_with_the_change_permission_cannot_grant_privileges_in_the_admin(client, user):
    from tests.factories import PASSWORD

    staff = make_user(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_user", "view_user"])
    )
    response = client.post("/admin/login/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302
    for target in (staff, user):
        form = {
            "username": target.username,
            "email": target.email,
            "display_name": "x",
            "bio": "",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        }
        response = client.post(f"/admin/users/user/{target.pk}/change/", form)
        assert response.status_code == 302, response.content[-800:]
        target.refresh_from_db()
        assert not target.is_superuser and target.display_name == "x"
    user.refresh_from_db()
    assert not user.is_staff


@pytest.mark.django_db
def test_any_change_of_the_stored_password_revokes_tokens(user):
    from users.models import User

    Token.objects.create(user=user)
    loaded = User.objects.get(pk=user.pk)
    loaded.set_unusable_password()
    loaded.save()
    assert not Token.objects.filter(user=user).exists()
    Token.objects.create(user=user)
    loaded = User.objects.get(pk=user.pk)
    loaded.display_name = "only this"
    loaded.save()
    assert Token.objects.filter(user=user).exists()  # other changes keep them
    partial = User.objects.only("id", "display_name").get(pk=user.pk)  # the hash not loaded
    partial.display_name = "deferred"
    partial.save(update_fields=["display_name"])
    assert Token.objects.filter(user=user).exists()
