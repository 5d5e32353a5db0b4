"""How the settings read the process environment (SPEC section 3): typed, with defaults."""

import os
import re
from dataclasses import fields
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value not in _TRUE | _FALSE:
        raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")
    return value in _TRUE


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not re.fullmatch(r"\s*-?[0-9]+\s*", raw):  # int() would take "1_0" and other scripts' digits
        raise ValueError(f"{name}={raw!r} is not an integer")
    return int(raw)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*", raw):
        raise ValueError(f"{name}={raw!r} is not a number")
    return float(raw)


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


def env_fields(prefix: str, options: type, *, skip: set[str]) -> dict[str, Any]:
    """``{NAME: value}`` for each field of the dataclass ``options`` (not in ``skip``) whose
    variable ``prefix + NAME`` is set, read as the field's type: bool, int, float or str."""
    readers: dict[Any, Any] = {bool: env_bool, int: env_int, float: env_float, str: env_str}
    found = {}
    for option in fields(options):
        name = option.name.upper()
        if name not in skip and os.environ.get(prefix + name, "").strip():
            found[name] = readers[option.type](prefix + name, option.default)
    return found
