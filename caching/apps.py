"""The caching app's config and its system check."""

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from caching.conf import options


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Cache"

    def ready(self) -> None:
        checks.register(check_options, checks.Tags.caches)


def check_options(**kwargs: Any) -> list[checks.CheckMessage]:
    """``CACHE_LAYER`` is read lazily; ``manage.py check`` (and every command) reads it now."""
    try:
        options()
    except (ImproperlyConfigured, ValueError, TypeError) as error:
        return [checks.Error(str(error), id="caching.E001")]
    return []
