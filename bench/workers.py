"""Which server, worker class and counts to run: gunicorn's sync and threaded workers against
granian's blocking threads (the production start, ``python -m config.serve``).

    python bench/workers.py                                # 5 rounds of 5 s, about 12 minutes
    python bench/workers.py --seconds 2 --rounds 1 --out /tmp   # a short run

On this machine's cores (``os.cpu_count()``), it compares gunicorn sync with one worker per core
(bench/run.py's setting), gunicorn gthread with 2 workers x 8 threads (today's start, the
reference of the ratios) and granian with one worker per core and 2, 4, 6 and 8 blocking
threads (``WEB_THREADS``); ``--all-configs`` adds the earlier study's sync with 2 x cores + 1
workers, gthread 2 x 4 and 4 x 4. Every server is started from the ``WEB_*`` variables
(gunicorn.conf.py, config/serve.py): gthread when ``WEB_THREADS`` > 1 under gunicorn. Loads:

- ``hit``: cached post details, as bench/run.py's "detail hits" (its 100 hot posts, warmed, near
  cache on), on the database bench/run.py seeds;
- ``slow db``: the same paths with ``CACHE_ENABLED=false`` and PostgreSQL reached through a proxy
  (bench/delay_proxy.py) that delays everything PostgreSQL sends by ``--delay-ms`` (5 ms): every
  query, and a connection's start-up, waits that much longer, as on a distant database;
- each with keep-alive on (``WEB_KEEPALIVE=5``) and off (``WEB_KEEPALIVE=0``: the server closes
  the connection after each response, wrk opens a new one; gunicorn's sync workers always do).

Each load has its own servers, a set per load started together (tests/live.py's LiveServer
through bench/harness.py's ``server``: stopped with their workers on every way out, SIGTERM
included; their output to files, removed after a clean run), each warmed with wrk for 2 s, then
driven with wrk (1 thread, 32 connections: bench/run.py's load generator), interleaved round
by round. It reports the median of the rounds: throughput (with the rounds' range, and its
ratio to gthread 2 x 8's), p50, p99, requests without an answer or with an error status, the
busiest worker's share of the CPU time, and the memory of all the server's processes (RSS
summed, and PSS: shared pages counted once); then a summary of the ratios per configuration.
Writes bench/workers.md (``--out``); a progress bar on stderr when it is a terminal, or with
``--progress``.
"""

import argparse
import os
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# bench.harness sets this run's key prefix and the settings module before Django is set up.
from bench.harness import (  # noqa: E402
    HOT,
    add_run_options,
    bench_database_url,
    ensure_wrk,
    lua_script,
    prepare_database,
    progress,
    run_wrk,
    server,
    unwind_on_sigterm,
)

CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Config:
    kind: str  # LiveServer's server: "gunicorn" or "production" (granian)
    workers: int  # WEB_CONCURRENCY
    threads: int  # WEB_THREADS: gunicorn's gthread threads (1: sync), granian's blocking threads


BASELINE = "gthread 2 x 8"  # today's start; the ratios are to it
CONFIGS = {
    f"sync x {CORES}": Config("gunicorn", CORES, 1),  # bench/run.py's setting
    BASELINE: Config("gunicorn", 2, 8),
    **{f"granian {CORES} x {n}": Config("production", CORES, n) for n in (2, 4, 6, 8)},
}
EARLIER = {  # --all-configs: the earlier study's, found wanting (docs/benchmarks.md)
    f"sync x {2 * CORES + 1}": Config("gunicorn", 2 * CORES + 1, 1),
    "gthread 2 x 4": Config("gunicorn", 2, 4),
    "gthread 4 x 4": Config("gunicorn", 4, 4),
}
# name: (the servers' WEB_KEEPALIVE, whether the database is the slow one)
LOADS = {
    "hit": ("5", False),
    "hit, keep-alive off": ("0", False),
    "slow db": ("5", True),
    "slow db, keep-alive off": ("0", True),
}
WRK_OPTIONS = ["-t1", "-c32", "--latency", "--timeout", "10s"]
WARM_SECONDS = 2


def workers(live) -> list[int]:
    """The PIDs of a server's workers (the children of its main process)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{live.process.pid}\n" in status.read_text():
                pids.append(int(status.parent.name))
        except OSError:
            continue
    return pids


def cpu_ticks(pids: list[int]) -> list[int]:
    """CPU time (user and system, in clock ticks) each of ``pids`` has used so far."""
    ticks = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            ticks.append(0)
            continue
        ticks.append(int(fields[11]) + int(fields[12]))
    return ticks


def drive(wrk: str, live, script: str, seconds: int, options: list[str]) -> dict:
    """run_wrk, and ``busiest``: the busiest worker's share of the workers' CPU time meanwhile
    (1/workers when they share the load evenly, 1 when one worker takes all the connections)."""
    pids = workers(live)
    before = cpu_ticks(pids)
    result = run_wrk(wrk, live.url, script, seconds, options)
    used = [after - was for after, was in zip(cpu_ticks(pids), before, strict=True)]
    result["busiest"] = max(used) / sum(used) if sum(used) else 1.0
    return result


def memory(live) -> tuple[int, int]:
    """RSS and PSS of all a server's processes (its process group: the master, the workers and
    anything they started), summed, in bytes. RSS counts a page shared by several processes
    once in each; PSS divides it among them, so its sum is the memory they take together."""
    sizes = {"Rss:": 0, "Pss:": 0}
    for pid in group(live):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            field = line.split(maxsplit=1)[0]
            if field in sizes:
                sizes[field] += int(line.split()[1]) * 1024
    return sizes["Rss:"], sizes["Pss:"]


def group(live) -> list[int]:
    """The PIDs of a server's process group (LiveServer starts each in a session of its own)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == live.process.pid:
            pids.append(int(stat.parent.name))
    return pids


def through(db: dict, host: str, port: int) -> str:
    """A DATABASE_URL for the database ``db`` (dj_database_url's parse) at ``host``:``port``."""
    user = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        user += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{user}@{host}:{port}/{quote(db['NAME'], safe='')}"


def round_trip_ms(url: str, n: int = 50) -> float:
    """Median time of ``SELECT 1`` on one connection to the database at ``url``, in ms."""
    import psycopg

    with psycopg.connect(url) as conn:
        times = []
        for _ in range(n):
            began = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Many short rounds: a median of five shrugs off two rounds that another process disturbed.
    add_run_options(parser, seconds=5, rounds=5)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--all-configs", action="store_true", help=f"also {', '.join(EARLIER)}")
    args = parser.parse_args()
    unwind_on_sigterm()
    configs = CONFIGS | (EARLIER if args.all_configs else {})

    with progress(args.progress or sys.stderr.isatty()) as bar:
        rows, setting = measure(args, configs, bar)
    text = report(args, configs, rows, setting)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "workers.md").write_text(text + "\n")


def measure(args: argparse.Namespace, configs: dict, bar) -> tuple[dict, dict]:
    """Per load and configuration, the medians of the rounds and the servers' memory."""
    import dj_database_url

    from bench.delay_proxy import DelayProxy

    bar.total = 1 + len(LOADS) * (2 + args.rounds * len(configs))
    bar.set_description_str("database")
    url = bench_database_url(tiny=False)
    os.environ["DATABASE_URL"] = url
    wrk = ensure_wrk()
    prepare_database(url, 10_000, 100_000, tiny=False)  # bench/run.py's data, when not there yet

    import django

    django.setup()
    from bench.write_cost import forget_prefix
    from posts.models import Post

    hot = list(
        Post.objects.filter(status="published").order_by("id").values_list("id", flat=True)[:HOT]
    )
    script = lua_script([f"/api/posts/{pk}/" for pk in hot])
    db = dj_database_url.parse(url)
    host, port = db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)
    bar.update()

    rows: dict = {}
    setting: dict = {"cores": CORES}
    try:
        with DelayProxy(host, port, args.delay_ms / 1000) as proxy:
            slow_url = through(db, "127.0.0.1", proxy.port)
            setting["select_direct_ms"] = round_trip_ms(through(db, host, port))
            setting["select_proxy_ms"] = round_trip_ms(slow_url)
            slow_env = {"CACHE_ENABLED": "false", "DATABASE_URL": slow_url}
            busy = []
            for load, (keepalive, slow) in LOADS.items():
                env = {"WEB_KEEPALIVE": keepalive, **(slow_env if slow else {})}
                rows[load], share = run_load(
                    load, env, configs, url, wrk, script, args, bar, proxy if slow else None
                )
                busy.append(share)
            setting["proxy_cpu"] = max(busy)
    finally:
        forget_prefix()  # this run's keys in the shared Redis (the hit loads' entries)
    bar.set_description_str("done")
    return rows, setting


def run_load(
    load: str, env: dict, configs: dict, url: str, wrk: str, script: str, args, bar, proxy=None
) -> tuple[dict, float]:
    """Start a server per configuration with ``env``, warm each, then drive them, interleaved
    round by round; the medians and each server's memory at the end, and the share of a core
    the ``proxy`` (if any) used during the rounds."""
    bar.set_description_str(f"{load}: servers")
    with ExitStack() as servers:
        live = {
            name: servers.enter_context(
                server(
                    url,
                    {**env, "WEB_THREADS": str(config.threads)},
                    kind=config.kind,
                    workers=config.workers,
                )
            )
            for name, config in configs.items()
        }
        bar.update()
        bar.set_description_str(f"{load}: warm")
        # Every worker's near cache and every thread's database connection, before measuring.
        for target in live.values():
            run_wrk(wrk, target.url, script, WARM_SECONDS, WRK_OPTIONS)
        bar.update()
        samples: dict = {name: [] for name in configs}
        began, cpu = time.monotonic(), proxy.cpu_seconds() if proxy else 0.0
        for round_ in range(args.rounds):
            for name, target in live.items():
                bar.set_description_str(f"{load}, round {round_ + 1}/{args.rounds}: {name}")
                samples[name].append(drive(wrk, target, script, args.seconds, WRK_OPTIONS))
                bar.update()
        busy = (proxy.cpu_seconds() - cpu) / (time.monotonic() - began) if proxy else 0.0
        sizes = {name: memory(target) for name, target in live.items()}
    rows: dict = {}
    for name, results in samples.items():
        rows[name] = {
            key: statistics.median(r[key] for r in results)
            for key in ("rps", "p50", "p99", "errors", "socket_errors", "busiest")
        } | {
            "rss": sizes[name][0],
            "pss": sizes[name][1],
            "rps_range": (min(r["rps"] for r in results), max(r["rps"] for r in results)),
            "busiest_worst": max(r["busiest"] for r in results),
        }
    return rows, busy


def report(args: argparse.Namespace, configs: dict, rows: dict, setting: dict) -> str:
    """The run's Markdown: what was measured, a row per load and configuration, and the ratios
    to today's start per configuration."""
    lines = [
        f"Machine: {setting['cores']} cores. Load: wrk {' '.join(WRK_OPTIONS)}, {args.rounds} "
        f"rounds x {args.seconds} s per configuration and load, interleaved; medians. `hit`: "
        f"cached post details (bench/run.py's {HOT} hot posts, near cache on). `slow db`: the "
        f"same paths with CACHE_ENABLED=false, PostgreSQL behind a proxy adding "
        f"{args.delay_ms:g} ms to what it sends (SELECT 1: {setting['select_direct_ms']:.2f} ms "
        f"direct, {setting['select_proxy_ms']:.2f} ms through the proxy; the proxy used up to "
        f"{setting['proxy_cpu']:.0%} of a core meanwhile). `keep-alive off`: the servers run "
        "with WEB_KEEPALIVE=0 (else 5), a connection per request. gunicorn: gunicorn.conf.py, "
        "gthread when WEB_THREADS > 1; granian: `python -m config.serve`, workers x "
        "WEB_THREADS.",
        "",
        f"| load | server | req/s | rounds' req/s | vs {BASELINE} | p50 ms | p99 ms | failed | "
        "busiest worker | memory RSS (PSS) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for load, by_config in rows.items():
        for name, row in by_config.items():
            lines.append(
                f"| {load} | {name} | {row['rps']:,.0f} | "
                f"{row['rps_range'][0]:,.0f} to {row['rps_range'][1]:,.0f} | "
                f"{row['rps'] / by_config[BASELINE]['rps']:.2f}x | {row['p50']:.2f} | "
                f"{row['p99']:.2f} | {row['errors'] + row['socket_errors']:.0f} | "
                f"{row['busiest']:.0%} ({row['busiest_worst']:.0%}) of {configs[name].workers} | "
                f"{row['rss'] / 2**20:.0f} MiB ({row['pss'] / 2**20:.0f} MiB) |"
            )
    lines += [
        "",
        "failed: responses with an error status and requests without an answer (socket errors, "
        "timeouts past 10 s). Busiest worker: its share of the workers' CPU time during a round, "
        "median of the rounds (the worst round); an even spread is 1/workers. Memory: every "
        "process of the server (master, workers and their children) after the load; RSS "
        "summed, PSS (pages shared between them counted once) in brackets.",
        "",
        f"req/s / {BASELINE}'s, per load; p99 in ms; memory: RSS of the `hit` servers.",
        "",
        f"| server | {' | '.join(rows)} | memory |",
        "|---|" + "---|" * (len(rows) + 1),
    ]
    for name in configs:
        cells = [
            f"{by[name]['rps'] / by[BASELINE]['rps']:.2f}x, p99 {by[name]['p99']:.0f}"
            for by in rows.values()
        ]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {rows['hit'][name]['rss'] / 2**20:.0f} MiB |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
