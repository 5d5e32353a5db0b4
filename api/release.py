"""The release this process runs: its version (bumped with each entry of CHANGELOG.md) and git
commit (``GIT_COMMIT``), for the readiness probe and the ``app_release_info`` metric."""

from django.conf import settings

VERSION = "1.4.0"


def commit() -> str:
    """``settings.GIT_COMMIT``, or ``unknown`` where the build did not set it."""
    return settings.GIT_COMMIT.strip()[:40] or "unknown"
