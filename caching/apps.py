"""The caching app's config: ``CACHE_LAYER`` checked at start and by ``manage.py check``."""

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from caching.core import rules
from caching.core.options import Options


class CachingConfig(AppConfig):
    name = "caching"
    verbose_name = "Cache"

    def ready(self) -> None:
        """A wrong ``CACHE_LAYER`` stops the start: system checks do not run under a server."""
        checks.register(check_options, checks.Tags.caches)
        Options.from_settings(getattr(settings, "CACHE_LAYER", {}))


def check_options(**kwargs: Any) -> list[checks.CheckMessage]:
    """``caching.E001``: ``CACHE_LAYER`` as ``manage.py check`` sees it now."""
    try:
        found = Options.from_settings(getattr(settings, "CACHE_LAYER", {}))
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="caching.E001")]
    unknown = sorted(set(found.ttls) - set(rules.namespaces()))  # declared once apps are ready
    if unknown:
        return [
            checks.Error(f"CACHE_LAYER['TTLS'] names no namespace: {unknown}", id="caching.E001")
        ]
    return []
