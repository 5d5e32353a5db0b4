"""The layering that a test can see from outside: declaring what to cache loads no Redis client
and no model (``docs/architecture.md``; the import contracts in ``pyproject.toml`` do the rest)."""

import json
import os
import subprocess
import sys

from tests.live import ROOT

PROBE = """
import json, sys
import caching.rules, caching.keys, caching.entry
print(json.dumps(sorted(m for m in sys.modules
                        if m.split(".")[0] in ("redis", "django_redis", "prometheus_client")
                        or m.startswith("django.db"))))
"""


def test_the_declared_data_imports_neither_redis_nor_a_model():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    found = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(found.stdout) == []


def test_the_facade_loads_a_name_on_first_use():
    probe = "import sys, caching; print('caching.service' in sys.modules)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "False"


def test_the_runtime_lock_carries_no_development_package():
    """requirements.txt is what a server installs: every package pinned with its hashes, and
    none of the tests', the benchmarks' or the profiler's (they are in requirements-dev.txt)."""
    lock = (ROOT / "requirements.txt").read_text()
    pinned = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line}
    development = {
        "pytest",
        "selenium",
        "matplotlib",
        "py-spy",
        "hypothesis",
        "schemathesis",
        "mypy",
        "ruff",
    }
    assert pinned and not pinned & development
    requirements = [line for line in lock.splitlines() if "==" in line]
    assert all(line.rstrip().endswith("\\") for line in requirements), (
        "every pin carries its hashes"
    )
    assert "django==" in lock.lower() and "--hash=sha256:" in lock
