"""What the benchmarks here share: the run's key prefix and settings, the seeded database, the
servers (tests/live.py's LiveServer) and the load generator (wrk).

Importing this module sets the process's ``CACHE_KEY_PREFIX`` (one per run), and the settings
module and a throwaway secret key when they are unset, before anything sets Django up.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PREFIX = f"bench-{uuid.uuid4().hex[:8]}"
os.environ["CACHE_KEY_PREFIX"] = PREFIX
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Settings refuse the dev secret key when DEBUG is off: a throwaway key, unless one is given.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(32))

import dj_database_url  # noqa: E402
import requests  # noqa: E402
from tqdm import tqdm  # noqa: E402

from tests.live import HTTP_TIMEOUT  # noqa: E402

WORKERS = 2  # one per core; sync workers under gunicorn
HOT = 100  # hot post ids the detail loads cycle through


def bench_database_url(tiny: bool) -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postsapi")
    if tiny:
        return url  # the caller's (the test suite's) database
    parsed = dj_database_url.parse(url)
    return url.rsplit("/", 1)[0] + f"/{parsed['NAME']}_bench"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package)", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk")


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def prepare_database(url: str, users: int, posts: int, tiny: bool) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    if not tiny:
        name = dj_database_url.parse(url)["NAME"]
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True)
        manage("migrate", "--noinput", "-v0", env=env)
    manage(
        "seed_demo",
        "--if-empty",
        "--users",
        str(users),
        "--posts",
        str(posts),
        "--seed",
        "1",
        env=env,
    )


@contextmanager
def server(
    url: str,
    extra_env: dict,
    *,
    kind: str = "gunicorn",
    workers: int = WORKERS,
    worker_args: tuple[str, ...] = (),
    ready_path: str = "/api/health/",
):
    """A server for the benchmark (tests/live.py's LiveServer: stopped with its workers on every
    way out, a failed start included), in production mode with a secret key of its own. ``kind``
    is LiveServer's ``server``: "gunicorn", started in the project's root so that it reads
    gunicorn.conf.py (sync workers unless ``WEB_THREADS`` > 1, LiveServer's default being 1;
    ``worker_args`` are its flags), or "production", ``python -m config.serve`` (granian).
    Its output, one access log line per request included, goes to a file (a pipe nobody reads
    would fill and block the workers); the file is removed when the server ends without an
    error, and kept for reading when it does not."""
    from tests.live import LiveServer

    with LiveServer(
        prefix=PREFIX,
        workers=workers,
        server=kind,
        extra_args=list(worker_args),
        ready_path=ready_path,
        env={"DATABASE_URL": url, "BENCH_VIEWS": "true", "DJANGO_DEBUG": "false", **extra_env},
    ) as live:
        yield live
    live.log.unlink(missing_ok=True)


def bare_ceiling(
    url: str, *, kind: str = "gunicorn", workers: int = WORKERS, env: dict | None = None
):
    """``server`` on bench/bare_settings.py: Django answering constant bytes at
    ``/bench/ceiling/<size>/`` behind its security and common middleware only, a ceiling that
    no change to the project's middleware moves."""
    return server(
        url,
        {"DJANGO_SETTINGS_MODULE": "bench.bare_settings", **(env or {})},
        kind=kind,
        workers=workers,
        ready_path=bare_path(1),
    )


def bare_path(size: int) -> str:
    """The path of ``size`` bytes on a ``bare_ceiling`` server (and of the project's own
    ceiling view, ``api/bench.py``, on the others)."""
    return f"/bench/ceiling/{size}/"


def progress(enabled: bool) -> tqdm:
    """One bar over the run's steps on stderr, off unless ``enabled`` (stdout is left alone)."""
    return tqdm(file=sys.stderr, disable=not enabled, unit="step", dynamic_ncols=True)


def lua_script(
    paths: list[str],
    write_every: int = 0,
    token: str = "",
    write_ids: list[int] = (),
    read_token: str = "",
) -> str:
    """A wrk script cycling through ``paths``; every ``write_every``-th request a PATCH. With
    ``read_token``, the GETs are authenticated with it."""
    writes = json.dumps(list(write_ids))[1:-1]
    reads = f'{{["Authorization"] = "Token {read_token}"}}' if read_token else "nil"
    return f"""
paths = {{{",".join(json.dumps(p) for p in paths)}}}
writes = {{{writes}}}
i = 0
request = function()
  i = i + 1
  if {write_every} > 0 and i % {write_every} == 0 then
    local id = writes[(i / {write_every}) % #writes + 1]
    local headers = {{["Authorization"] = "Token {token}", ["Content-Type"] = "application/json"}}
    local body = '{{"title":"bench ' .. i .. '"}}'
    return wrk.format("PATCH", "/api/posts/" .. id .. "/", headers, body)
  end
  return wrk.format("GET", paths[i % #paths + 1], {reads})
end
"""


def run_wrk(wrk: str, base: str, script: str, seconds: int, options: list[str]) -> dict:
    """Drive ``base`` with wrk for ``seconds``: req/s, p50 and p99 in ms, non-2xx/3xx responses
    and socket errors (connect, read, write, timeout: requests that got no answer)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [wrk, *options, f"-d{seconds}s", "-s", f.name, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50"),
        "p99": ms("99"),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, failed.groups())) if failed else 0,
    }


def read_paths(base: str, hot: list[int]) -> tuple[list[str], list[str]]:
    """The detail paths of the ``hot`` posts, and up to 15 list pages (10 of all posts, 5 of
    one category), asking the server at ``base`` how many pages there are."""

    def pages(query: str) -> int:
        count = requests.get(f"{base}/api/posts/?{query}", timeout=HTTP_TIMEOUT).json()["count"]
        return max(1, -(-count // 20))

    list_paths = [f"/api/posts/?page={n}" for n in range(1, min(10, pages("")) + 1)]
    list_paths += [
        f"/api/posts/?category=django&page={n}"
        for n in range(1, min(5, pages("category=django")) + 1)
    ]
    return [f"/api/posts/{pk}/" for pk in hot], list_paths


def interleave(
    wrk: str, variants: dict, args: argparse.Namespace, options: list[str], bar: tqdm, after=None
) -> dict:
    """Drive each variant (name: its server, its wrk script, and whether its hits count: true,
    or the function that reads the counters of its server's Redis when that is not this
    process's, ``caching.ops.stats.stats`` otherwise) with wrk for ``args.seconds``, round by
    round (A B C ... A B C ...), ``after(name)`` after each; the medians of the rounds per
    variant: req/s, p50, p99, error statuses and the hit rate the servers counted."""
    from caching.ops import stats as counters  # once Django is set up

    bar.total += args.rounds * len(variants)
    samples: dict = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name, (target, script, hits) in variants.items():
            bar.set_description_str(f"round {round_ + 1}/{args.rounds}: {name}")
            count = hits if callable(hits) else counters.stats
            before = count(with_keys=False) if hits else None
            result = run_wrk(wrk, target.url, script, args.seconds, options)
            result["hit_rate"] = hit_rate(before, count(with_keys=False)) if hits else None
            samples[name].append(result)
            if after:
                after(name)
            bar.update()
    rows = {}
    for name, results in samples.items():
        rates = [r["hit_rate"] for r in results if r["hit_rate"] is not None]
        rows[name] = {
            key: statistics.median(r[key] for r in results)
            for key in ("rps", "p50", "p99", "errors")
        }
        rows[name]["hit_rate"] = statistics.median(rates) if rates else None
    return rows


def hit_rate(before: dict, after: dict) -> float | None:
    hits = after["total"]["hits"] - before["total"]["hits"]
    misses = after["total"]["misses"] - before["total"]["misses"]
    return hits / (hits + misses) if hits + misses else None


def variants_table(rows: dict) -> list[str]:
    """The Markdown table of ``interleave``'s rows."""
    lines = [
        "| variant | req/s | p50 ms | p99 ms | hit rate | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        rate = "" if row["hit_rate"] is None else f"{row['hit_rate']:.1%}"
        lines.append(
            f"| {name} | {row['rps']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {rate} | "
            f"{row['errors']:.0f} |"
        )
    return lines


def add_run_options(parser: argparse.ArgumentParser, *, seconds: int, rounds: int) -> None:
    """The options every benchmark here takes: rounds and their length, where the results go,
    and the progress bar."""
    parser.add_argument("--seconds", type=int, default=seconds)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--out", type=Path, default=ROOT / "bench")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="a progress bar on stderr even when it is not a terminal (it is shown on one)",
    )


def unwind_on_sigterm() -> None:
    """A terminated run (a test's deadline, a `kill`) unwinds like an error: the servers and
    proxies it started are stopped on the way out, not left running."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
