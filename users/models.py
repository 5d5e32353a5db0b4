from collections.abc import Collection
from typing import Any, ClassVar, Self

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as AuthUserManager
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from rest_framework.authtoken.models import Token

from caching import InvalidatingModel, InvalidatingQuerySet

BIO_MAX_LENGTH = 1_000


class UserManager(AuthUserManager["User"]):
    """Django's user manager whose bulk writes invalidate the cache."""

    # What from_queryset(InvalidatingQuerySet) sets: the manager's methods already proxy every
    # QuerySet method to it. django-stubs' plugin cannot type from_queryset in the module of
    # AUTH_USER_MODEL (the auth stubs depend on it).
    _queryset_class = InvalidatingQuerySet


class User(InvalidatingModel, AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True, max_length=BIO_MAX_LENGTH)

    objects: ClassVar[UserManager] = UserManager()

    # Set by AbstractBaseUser.set_password until the next save; django-stubs omits it.
    _password: str | None
    _loaded_password: str | None  # the stored hash as loaded, to tell a change (save)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("bio"), BIO_MAX_LENGTH), name="user_bio_max_length"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @classmethod
    def from_db(  # **kwargs: Django 6's fetch_mode, which django-stubs already declares
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        user = super().from_db(db, field_names, values, **kwargs)
        user._loaded_password = user.__dict__.get("password")
        return user

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Any change of the stored password hash revokes the user's API tokens (docs/security.md,
        "Accounts"); ``QuerySet.update(password=...)`` bypasses it, as it bypasses ``save``."""
        # None: new, or loaded without it (deferred)
        loaded = getattr(self, "_loaded_password", None)
        current = self.__dict__.get("password")  # never a query for a deferred field
        password_changed = self._password is not None or (loaded is not None and current != loaded)
        super().save(*args, **kwargs)
        self._loaded_password = self.__dict__.get("password")
        if password_changed:
            Token.objects.filter(user=self).delete()
