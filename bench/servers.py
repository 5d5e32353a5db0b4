"""The read benchmark's servers section (``python bench/run.py --section servers``): the
production start against the former start, gunicorn, on the same application, in one run.

Five servers, all with the same settings (bench/harness.py's ``server``), started together:

- the production start, ``python -m config.serve`` (granian, WSGI), 2 workers, with
  config/serve.py's default ``WEB_THREADS`` unless ``--granian-threads`` sets it;
- the former start, gunicorn gthread with 2 workers x 8 threads (gunicorn.conf.py,
  ``WEB_THREADS=8``);
- gunicorn with 2 sync workers (the cache section's server);
- the bare ceiling (bench/bare_settings.py) under the production start and under gunicorn sync.

Each is warmed with wrk (every worker's near cache and threads), then detail and list hits and
the bare ceiling at their sizes are driven with wrk (1 thread, 16 connections: the 16 threads
of the former start busy; ``--connections`` for another load), interleaved round by round;
medians. Reports the production start's hits against today's (req/s, p50, p99) and hits
against the bare ceiling under the same server.
"""

import argparse
from contextlib import ExitStack

import requests
from tqdm import tqdm

from bench.harness import (
    WORKERS,
    bare_ceiling,
    bare_path,
    interleave,
    lua_script,
    read_paths,
    run_wrk,
    server,
    variants_table,
)
from tests.live import HTTP_TIMEOUT

CONNECTIONS = 16  # the 16 threads of the former start busy; --connections changes it
WARM_SECONDS = 2
GTHREAD = "gunicorn gthread 2 x 8"
SYNC = "gunicorn sync x 2"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk's -c")
    parser.add_argument(
        "--granian-threads",
        type=int,
        help="the servers section's WEB_THREADS for the production start (default: unset, so "
        "config/serve.py's default)",
    )


def wrk_args(args: argparse.Namespace) -> list[str]:
    return ["-t1", f"-c{args.connections}", "--latency"]


def production(args: argparse.Namespace) -> str:
    """The production start's name in the rows."""
    if args.granian_threads:
        return f"granian {WORKERS} x {args.granian_threads}"
    return "granian (production start)"


def measure(args: argparse.Namespace, bar: tqdm, wrk: str, url: str, hot: list[int]) -> tuple[dict]:
    """The medians of the rounds per variant."""
    # An empty value is an unset one to config.env: config/serve.py's default.
    threads = {"WEB_THREADS": str(args.granian_threads or "")}
    bar.set_description_str("servers: start")
    with ExitStack() as started:
        apps = {
            production(args): started.enter_context(server(url, threads, kind="production")),
            GTHREAD: started.enter_context(server(url, {"WEB_THREADS": "8"})),
            SYNC: started.enter_context(server(url, {})),
        }
        bares = {
            production(args): started.enter_context(
                bare_ceiling(url, kind="production", env=threads)
            ),
            SYNC: started.enter_context(bare_ceiling(url)),
        }
        bar.update()
        bar.set_description_str("servers: warm")
        paths = dict(zip(("detail", "list"), read_paths(apps[SYNC].url, hot), strict=True))
        sizes = {
            kind: len(requests.get(apps[SYNC].url + found[0], timeout=HTTP_TIMEOUT).content)
            for kind, found in paths.items()
        }
        warm = min(WARM_SECONDS, args.seconds)
        for live in apps.values():
            run_wrk(
                wrk, live.url, lua_script(paths["detail"] + paths["list"]), warm, wrk_args(args)
            )
        for live in bares.values():
            run_wrk(wrk, live.url, lua_script([bare_path(sizes["list"])]), warm, wrk_args(args))
        bar.update()
        variants = {}
        for kind in ("detail", "list"):
            for name, live in apps.items():
                variants[f"{kind} hits, {name}"] = (live, lua_script(paths[kind]), True)
            ceiling = lua_script([bare_path(sizes[kind])])
            for name, live in bares.items():
                variants[f"bare ceiling ({kind} size), {name}"] = (live, ceiling, False)
        return (interleave(wrk, variants, args, wrk_args(args), bar),)


def report(args: argparse.Namespace, rows: dict) -> str:
    """The servers section's Markdown: the variants' table and the comparisons."""
    new = production(args)

    def ratio(a: str, b: str, key: str = "rps") -> str:
        return ", ".join(
            f"{rows[a.format(kind=kind)][key] / rows[b.format(kind=kind)][key]:.2f}x"
            for kind in ("detail", "list")
        )

    hits = "{kind} hits, "
    bare = "bare ceiling ({kind} size), "
    threads = args.granian_threads or "unset (config/serve.py's default)"
    lines = [
        "## The servers",
        "",
        f"{new}: `python -m config.serve` (WSGI), {WORKERS} workers, WEB_THREADS {threads}. "
        f"{GTHREAD}: the former start (gunicorn.conf.py, WEB_THREADS=8). {SYNC}: the cache "
        "section's server. Bare ceiling: bench/bare_settings.py under that server. The same "
        f"settings otherwise. Load: wrk {' '.join(wrk_args(args))}, {args.rounds} rounds x "
        f"{args.seconds} s per variant, interleaved; medians.",
        "",
        *variants_table(rows),
        "",
        "| measure (detail, list) | result | target |",
        "|---|---|---|",
        f"| hits, {new} / {GTHREAD}: req/s | {ratio(hits + new, hits + GTHREAD)} | >= 2x |",
        f"| hits, {new} / {GTHREAD}: p50 | {ratio(hits + new, hits + GTHREAD, 'p50')} | report |",
        f"| hits, {new} / {GTHREAD}: p99 | {ratio(hits + new, hits + GTHREAD, 'p99')} | report |",
        f"| hits, {new} / {SYNC}: req/s | {ratio(hits + new, hits + SYNC)} | report |",
        f"| hits / bare ceiling, both under {new} | {ratio(hits + new, bare + new)} | report |",
        f"| hits / bare ceiling, both under {SYNC} | {ratio(hits + SYNC, bare + SYNC)} | report |",
    ]
    return "\n".join(lines)
