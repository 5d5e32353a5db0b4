from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as AuthUserManager
from django.db import models

from caching.models import InvalidatingModel
from caching.querysets import InvalidatingQuerySet


class UserManager(AuthUserManager.from_queryset(InvalidatingQuerySet)):
    """Django's user manager whose bulk writes invalidate the cache (caching.querysets)."""


class User(InvalidatingModel, AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)
    bio = models.TextField(blank=True)

    objects = UserManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.username
