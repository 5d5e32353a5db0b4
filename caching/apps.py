from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Cache"

    def ready(self) -> None:
        checks.register(check_options, checks.Tags.caches)


def check_options(**kwargs) -> list[checks.CheckMessage]:
    """``CACHE_LAYER`` is read lazily; ``manage.py check`` (and every command) reads it now."""
    from caching.conf import options

    try:
        options()
    except (ImproperlyConfigured, ValueError, TypeError) as error:
        return [checks.Error(str(error), id="caching.E001")]
    return []
