from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as AuthUserManager
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from rest_framework.authtoken.models import Token

from caching.models import InvalidatingModel
from caching.querysets import InvalidatingQuerySet

BIO_MAX_LENGTH = 1_000


class UserManager(AuthUserManager.from_queryset(InvalidatingQuerySet)):
    """Django's user manager whose bulk writes invalidate the cache (caching.querysets)."""


class User(InvalidatingModel, AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True, max_length=BIO_MAX_LENGTH)

    objects = UserManager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=LessThanOrEqual(Length("bio"), BIO_MAX_LENGTH), name="user_bio_max_length"),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs) -> None:
        """A password change, by any path (API, admin, ``changepassword``), revokes the user's
        API tokens (``set_password`` leaves the new password in ``_password`` until saved)."""
        password_changed = self._password is not None
        super().save(*args, **kwargs)
        if password_changed:
            Token.objects.filter(user=self).delete()
