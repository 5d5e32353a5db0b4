"""``CACHE_LAYER``: each option's default and meaning stated once, in ``caching.core.options``;
``.env.example`` and the settings are compared with it, and a wrong option stops the start."""

import json
import os
import re
import subprocess
import sys
from dataclasses import fields

import pytest
from django.core.exceptions import ImproperlyConfigured

from caching.apps import check_options
from caching.core.options import Options, defaults
from config.settings import CACHE_OPTIONS_NOT_FROM_THE_ENVIRONMENT as NOT_FROM_THE_ENVIRONMENT
from tests.live import ROOT


def _shown(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _from_the_environment() -> dict[str, tuple[str, str]]:
    """Each option a variable sets: its default as shown, and its meaning."""
    return {
        f"CACHE_{option.name.upper()}": (
            _shown(defaults()[option.name.upper()]),
            option.metadata["meaning"],
        )
        for option in fields(Options)
        if option.name.upper() not in NOT_FROM_THE_ENVIRONMENT
    }


def test_env_example_gives_each_option_its_default_and_meaning():
    """The line above each variable is its meaning; the variable is set to its default."""
    text = (ROOT / ".env.example").read_text()
    listed = re.findall(r"^# (.*)\n#?\s*(CACHE_\w+)=(.*)$", text, re.M)
    found = {name: (default, meaning) for meaning, name, default in listed}
    for name, expected in _from_the_environment().items():
        assert found.get(name) == expected, name


def test_the_configuration_doc_gives_each_option_its_default_and_meaning():
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `(CACHE_\w+)` \| `?([^`|]*?)`? \| (.*) \|$", text, re.M)
    documented = {name: (default, meaning) for name, default, meaning in rows}
    for name, (default, meaning) in _from_the_environment().items():
        assert documented.get(name) == (default or "empty", meaning), name


@pytest.mark.parametrize(
    ("variables", "given"),
    [({}, {}), ({"CACHE_DEFAULT_TTL": "77", "CACHE_NEAR_ENABLED": "false"},
                {"DEFAULT_TTL": 77, "NEAR_ENABLED": False})],
)  # fmt: skip
def test_the_settings_read_an_option_from_the_environment_only_when_set(variables, given):
    """Unset, an option takes its dataclass default: the settings do not restate it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    probe = "from django.conf import settings; import json; print(json.dumps(settings.CACHE_LAYER))"
    found = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, **variables, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    layer = json.loads(found.stdout)
    assert {k: v for k, v in layer.items() if k != "TTLS"} == given


def test_every_option_has_a_meaning():
    from dataclasses import fields

    assert all(option.metadata.get("meaning") for option in fields(Options))


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"DEFAULT_TLL": 60}, "DEFAULT_TLL"),
        ({"ENABLED": "yes"}, "ENABLED"),
        ({"DEFAULT_TTL": "600"}, "DEFAULT_TTL"),
        ({"LEASE_MS": -1}, "LEASE_MS"),
        ({"NEAR_ENABLED": 1}, "NEAR_ENABLED"),
        ({"TTLS": {"post": "60"}}, "TTLS"),
        ({"KEY_PREFIX": 5}, "KEY_PREFIX"),
        ({"LEASE_MS": 0}, "LEASE_MS"),
        ({"BREAKER_FAILURES": 0}, "BREAKER_FAILURES"),
        ({"DEFAULT_TTL": 10**20}, "DEFAULT_TTL"),
        ({"TTLS": {"post": 10**20}}, "TTLS"),
        ({"TTLS": {"psots": 5}}, "psots"),
        ({"enabled": False}, "'enabled'"),
        ({1: 2}, "1"),
    ],
)
def test_a_wrong_option_is_an_error_naming_it(settings, given, named):
    if named != "psots":  # a namespace is known once the apps are: manage.py check says so
        with pytest.raises(ImproperlyConfigured, match=named):
            Options.from_settings(given)
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, **given}
    (error,) = check_options()
    assert error.id == "caching.E001" and named in error.msg


@pytest.mark.parametrize("given", [None, [], "ENABLED"])
def test_a_cache_layer_that_is_not_a_dict_is_an_error(given):
    with pytest.raises(ImproperlyConfigured, match="expected a dict"):
        Options.from_settings(given)


@pytest.mark.parametrize(
    ("value", "error"),
    [("-5", "ImproperlyConfigured"), ("0", "ImproperlyConfigured"), ("1_0", "not an integer"),
     ("\u0661\u0660", "not an integer")],
)  # fmt: skip
def test_a_wrong_option_stops_the_start(value, error):
    """System checks do not run under a server: the app's ready() refuses to start, and a
    variable that is not a plain integer is refused as it is read."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "CACHE_LEASE_MS": value}
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert started.returncode != 0
    assert error in started.stderr and "LEASE_MS" in started.stderr
