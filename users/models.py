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
    """Django's user manager whose bulk writes invalidate the cache
    (caching.invalidation.querysets)."""

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
    def from_db(
        cls,
        db: str | None,
        field_names: Collection[str],
        values: Collection[Any],
        **kwargs: Any,  # Django 6's fetch_mode, which django-stubs already declares
    ) -> Self:
        user = super().from_db(db, field_names, values, **kwargs)
        user._loaded_password = user.__dict__.get("password")
        return user

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A password change revokes the user's API tokens: by ``set_password`` (the API, the
        admin, ``changepassword``) or any other change of the stored hash
        (``set_unusable_password``, an assignment). ``QuerySet.update(password=...)`` bypasses
        this, as it bypasses ``save``."""
        loaded = getattr(
            self, "_loaded_password", None
        )  # None: new, or loaded without it (deferred)
        current = self.__dict__.get("password")  # never a query for a deferred field
        password_changed = self._password is not None or (loaded is not None and current != loaded)
        super().save(*args, **kwargs)
        self._loaded_password = self.__dict__.get("password")
        if password_changed:
            Token.objects.filter(user=self).delete()
