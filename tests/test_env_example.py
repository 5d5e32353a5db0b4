""".env.example lists every environment variable the project reads, and only those.

Reads are found statically: in every tracked Python file, the ``config.env`` helpers and
``os.environ`` / ``os.getenv`` with a literal name (an AST walk); in the shell scripts,
``${NAME:-default}`` / ``${NAME-default}`` and ``"$NAME"`` where the script has not assigned
``NAME`` itself. Assignments (``os.environ["X"] = ...``, ``X=... command``) are not reads.
"""

import ast
import re
import subprocess
from pathlib import Path

from caching.core.options import defaults
from config.settings import CACHE_OPTIONS_NOT_FROM_THE_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_list"}
ENVIRON_METHODS = {"get", "setdefault", "pop"}
SHELL_GLOBS = ["scripts/*.sh", ".ci/run"]
NAME = r"[A-Z][A-Z0-9_]*"
LISTED = re.compile(rf"^(?:#\s*)?({NAME})=", re.MULTILINE)
READ_WITH_DEFAULT = re.compile(rf"\$\{{({NAME})[:-]")
READ_QUOTED = re.compile(rf'"\$\{{?({NAME})\}}?"')
ASSIGNED = re.compile(rf"(?:^|[\s;])(?:export\s+|local\s+|readonly\s+)?({NAME})=")
SOURCED = re.compile(r"^\s*(?:source|\.)\s+.*?([\w.-]+\.sh)\b")

# Listed, but read only by third-party code the project relies on (none today), each with where.
READ_ELSEWHERE: dict[str, str] = {}


def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines()]


def _is_environ(node: ast.expr) -> bool:
    """``os.environ``, or ``environ`` imported from os."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _is_reader(func: ast.expr) -> bool:
    """A config.env helper, ``os.environ.get`` (or ``setdefault``, ``pop``), ``os.getenv``."""
    if isinstance(func, ast.Name):
        return func.id in ENV_HELPERS
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "getenv":
        return isinstance(func.value, ast.Name) and func.value.id == "os"
    return func.attr in ENVIRON_METHODS and _is_environ(func.value)


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_reads(source: str) -> set[str]:
    """Names read by a literal, or by a module-level constant (``VARIABLE = "NAME"``)."""
    tree = ast.parse(source)
    constants = {
        target.id: value
        for node in tree.body
        if isinstance(node, ast.Assign) and (value := _string(node.value))
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def literal(node: ast.expr) -> str | None:
        return constants.get(node.id) if isinstance(node, ast.Name) else _string(node)

    def name_read(node: ast.AST) -> str | None:
        if isinstance(node, ast.Call) and node.args and _is_reader(node.func):
            return literal(node.args[0])
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            return literal(node.slice) if _is_environ(node.value) else None
        if isinstance(node, ast.Compare) and any(
            isinstance(o, ast.In | ast.NotIn) for o in node.ops
        ):
            return literal(node.left) if any(map(_is_environ, node.comparators)) else None
        return None

    return {name for node in ast.walk(tree) if (name := name_read(node))}


def assigned_in(path: Path) -> set[str]:
    return set(ASSIGNED.findall(path.read_text()))


def shell_reads(path: Path) -> set[str]:
    """Reads with a default anywhere, and quoted reads of names the script (or a script it
    sources) has not assigned before that line."""
    reads: set[str] = set()
    assigned: set[str] = set()
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        reads.update(READ_WITH_DEFAULT.findall(line))
        reads.update(set(READ_QUOTED.findall(line)) - assigned)
        assigned.update(ASSIGNED.findall(line))
        if sourced := SOURCED.match(line):
            assigned |= assigned_in(path.parent / sourced.group(1))
    return reads


def read_by_the_code() -> dict[str, set[str]]:
    """Each name read, with the files that read it."""
    found: dict[str, set[str]] = {}
    for path in tracked("*.py"):
        for name in python_reads(path.read_text()):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for path in tracked(*SHELL_GLOBS):
        for name in shell_reads(path):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    # config.env.env_fields: a variable per CACHE_LAYER option (caching.core.options.Options).
    for key in defaults().keys() - CACHE_OPTIONS_NOT_FROM_THE_ENVIRONMENT:
        found.setdefault(f"CACHE_{key}", set()).add("config/settings.py")
    return found


def listed() -> list[str]:
    return LISTED.findall((ROOT / ".env.example").read_text())


def test_every_variable_the_code_reads_is_listed():
    missing = {
        name: sorted(files) for name, files in read_by_the_code().items() if name not in listed()
    }
    assert not missing, f"read by the code but not in .env.example: {missing}"


def test_every_listed_variable_is_read():
    read = read_by_the_code()
    stale = [name for name in listed() if name not in read and name not in READ_ELSEWHERE]
    assert not stale, f"in .env.example but read by nothing (remove them): {stale}"


def test_each_variable_is_listed_once_after_a_line_saying_what_it_means():
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = listed()
    assert len(names) == len(set(names)), "a variable is listed twice"
    for i, line in enumerate(lines):
        if LISTED.match(line):  # NAME=default, or # NAME= (no default)
            above = lines[i - 1] if i else ""
            assert above.startswith("# ") and not LISTED.match(above), f"no meaning above {line!r}"


def test_the_scanner_finds_reads_and_skips_writes(tmp_path):
    source = (
        'import os\nfrom config.env import env_int\nA = env_int("A_INT", 1)\n'
        'os.environ.get("B_GET")\nos.environ["C_ITEM"]\nos.environ.setdefault("D_SET", "x")\n'
        'os.getenv("E_GETENV")\n"F_IN" in os.environ\nos.environ["NOT_READ"] = "1"\n'
        'VARIABLE = "G_CONSTANT"\nenv_int(VARIABLE, 1)\nos.environ.get(name)\n'
    )
    expected = {"A_INT", "B_GET", "C_ITEM", "D_SET", "E_GETENV", "F_IN", "G_CONSTANT"}
    assert python_reads(source) == expected
    script = tmp_path / "s.sh"
    script.write_text(
        'X="${WITH_DEFAULT:-1}" Y="${EMPTY_DEFAULT-}"\nOWN=1\necho "$OWN" "$BARE"\n'
        '# "$COMMENTED"\nFOR_COMMAND=1 run "$ROOT/x"\n'
    )
    assert shell_reads(script) == {"WITH_DEFAULT", "EMPTY_DEFAULT", "BARE"}
