"""The release this process runs: its version (this file, bumped with each entry of
CHANGELOG.md) and its git commit, for the readiness probe and the ``app_release_info`` metric."""

import functools
import re
from pathlib import Path

from django.conf import settings

VERSION = "1.0.0"

_SHA = re.compile(r"[0-9a-f]{40}")
_GIT = Path(__file__).resolve().parent.parent / ".git"


@functools.cache
def commit() -> str:
    """``settings.GIT_COMMIT`` when the deployment sets it (an image built without ``.git``),
    else the commit checked out here, read from ``.git`` without running git; ``unknown`` when
    neither."""
    given = settings.GIT_COMMIT.strip()
    if given:
        return given[:40]
    return _checked_out() or "unknown"


def _checked_out() -> str | None:
    try:
        head = (_GIT / "HEAD").read_text().strip()
        if _SHA.fullmatch(head):
            return head  # a detached HEAD
        ref = head.removeprefix("ref: ")
        loose = _GIT / ref
        if loose.is_file():
            return loose.read_text().strip()
        for line in (_GIT / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        return None
    return None
