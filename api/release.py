"""The release this process runs: its version (this file, bumped with each entry of
CHANGELOG.md) and its git commit (``GIT_COMMIT``, set where the release is built: the image, or
``scripts/serve.sh``), for the readiness probe and the ``app_release_info`` metric."""

from django.conf import settings

VERSION = "1.2.0"


def commit() -> str:
    """``settings.GIT_COMMIT``, or ``unknown`` where the build did not set it."""
    return settings.GIT_COMMIT.strip()[:40] or "unknown"
