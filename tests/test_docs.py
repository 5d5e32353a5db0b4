"""The docs name what exists: every file path and every dotted name of the project's code in
README.md, docs/*.md and the changelog's standing part, and every file path in the code's
docstrings and comments, resolves, so a module moved or renamed without its docs fails here."""

import importlib
import re

import pytest

from tests.live import ROOT

PACKAGES = ("caching", "api", "config", "users", "posts", "bench", "tests")
# A file (``caching/core/keys.py``) or a folder (``caching/near/``), not a URL (``/api/posts/``).
PATH = re.compile(rf"(?<![/\w.-])((?:{'|'.join(PACKAGES)})/(?:[\w/]*\.py|(?:\w+/)*))(?![\w/])")
DOTTED = re.compile(rf"(?<![\w.])((?:{'|'.join(PACKAGES[:5])})(?:\.[A-Za-z_]\w*)+)")
# Dotted names that are not code: loggers, check ids, hosts.
NOT_CODE = {"api.access", "caching.E001", "api.example.com"}
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = sorted(
    p
    for package in PACKAGES[:5]
    for p in (ROOT / package).rglob("*.py")
    if "migrations" not in p.parts
)


def _resolves(dotted: str) -> bool:
    """A module, or an attribute of one (``caching.core.keys.detail_key``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def _text(path):
    """The file's text; of CHANGELOG.md, the standing part above the releases."""
    text = path.read_text()
    return text.split("\n## [")[0] if path.name == "CHANGELOG.md" else text


@pytest.mark.parametrize("path", DOCS + CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_and_modules_exist(path):
    text = _text(path)
    named = {p for p in PATH.findall(text) if path.suffix == ".md" or p.endswith(".py")}
    missing = [p for p in named if not (ROOT / p).exists()]  # in code, a folder may be a URL
    names = set(DOTTED.findall(text)) - NOT_CODE if path.suffix == ".md" else set()
    unknown = [d for d in names if not _resolves(d)]
    assert not missing and not unknown, f"missing files {missing}, unknown names {unknown}"
