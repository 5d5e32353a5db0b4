"""The layering that a test can see from outside: declaring what to cache loads no Redis client
and no model (``docs/architecture.md``; the import contracts in ``pyproject.toml`` do the rest)."""

import json
import os
import re
import subprocess
import sys
import tomllib

from tests.live import ROOT

PROBE = """
import json, sys
import caching.core.rules, caching.core.keys, caching.core.entry
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
    probe = "import sys, caching; print('caching.reads.get_or_load' in sys.modules)"
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


def test_the_architecture_diagram_draws_the_contracts_packages():
    """docs/architecture.md draws caching's packages in the order the import contract enforces
    them; a package added, moved or renamed in one and not the other fails here."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in contracts["contracts"] if c.get("containers") == ["caching"]]
    doc = (ROOT / "docs" / "architecture.md").read_text()
    block = doc.split("<!-- packages")[1].split("<!-- /packages -->")[0].split("```")[1]
    drawn = [
        re.split(r"\s{2,}", line.strip())[0]
        for line in block.splitlines()
        if line[:2].strip() and line.strip()
    ]
    assert drawn == layers
    packages = {p.name for p in (ROOT / "caching").iterdir() if (p / "__init__.py").exists()}
    named = {name.strip() for layer in layers for name in layer.split("|")}
    assert packages - {"migrations"} <= named


def test_the_state_forgets_the_features_above_before_the_ones_below():
    """Last registered, first forgotten; and a feature registers after the ones it stands on (at
    import), so the near tier closes while its options, client and breaker are still there."""
    from caching.core import options
    from caching.core.state import STATE, ProcessState
    from caching.near import tier
    from caching.redis import connection, policy

    state, order = ProcessState(), []
    state.on_reset(lambda: order.append("below"))
    state.on_reset(lambda: order.append("above"))
    state.reset()
    assert order == ["above", "below"]
    forgets = STATE._forgets
    below = [options.CURRENT.reset, connection.client.cache_clear, policy._reset]
    assert forgets.index(tier.CURRENT.forget) > max(map(forgets.index, below))


def test_the_facade_exports_each_name_once_and_to_a_star_import():
    import caching

    names: dict[str, object] = {}
    exec("from caching import *", names)  # noqa: S102 (what a user's star import gets)
    assert set(caching.__all__) <= set(names) and "ast" not in names
    assert {"get_or_load", "CacheUnavailableError", "detail_key"} <= set(caching.__all__)
    assert len(dir(caching)) == len(set(dir(caching)))


def test_the_architecture_diagram_draws_the_apps_in_the_contracts_order():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in contracts["contracts"] if c["name"].startswith("Apps")]
    block = (ROOT / "docs" / "architecture.md").read_text().split("```")[1]
    drawn = [
        word for line in block.splitlines() for word in re.findall(r"^ (\w+)(?: ──► (\w+))?", line)
    ]
    assert [app for pair in drawn for app in pair if app] == layers
