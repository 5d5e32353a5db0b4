from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as AuthUserManager
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from rest_framework.authtoken.models import Token

from caching import InvalidatingModel, InvalidatingQuerySet

BIO_MAX_LENGTH = 1_000


class UserManager(AuthUserManager.from_queryset(InvalidatingQuerySet)):
    """Django's user manager whose bulk writes invalidate the cache
    (caching.invalidation.querysets)."""


class User(InvalidatingModel, AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True, max_length=BIO_MAX_LENGTH)

    objects = UserManager()

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
    def from_db(cls, db, field_names, values):
        user = super().from_db(db, field_names, values)
        user._loaded_password = user.__dict__.get("password")
        return user

    def save(self, *args, **kwargs) -> None:
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
