"""Which gunicorn worker class and counts to run: sync workers against threaded ones.

    python bench/workers.py                                # 5 rounds of 5 s, about 7 minutes
    python bench/workers.py --seconds 2 --rounds 1 --out /tmp   # a short run

On this machine's cores (``os.cpu_count()``), it compares ``-k sync`` with 2 x cores + 1 workers
(and with one per core, bench/run.py's setting) against ``-k gthread`` with 2 workers x 4
threads, 2 x 8 and 4 x 4, at three loads:

- ``hit``: cached post details, as bench/run.py's "detail hits" (its 100 hot posts, warmed, near
  cache on), on the database bench/run.py seeds;
- ``hit, no keep-alive``: the same, each request on a new connection (``Connection: close``), as
  from a proxy that does not keep its upstream connections open (sync workers never do);
- ``slow db``: the same paths with ``CACHE_ENABLED=false`` and PostgreSQL reached through a proxy
  (bench/delay_proxy.py) that delays everything PostgreSQL sends by ``--delay-ms`` (5 ms): every
  query, and a connection's start-up, waits that much longer, as on a distant database.

The hit loads share a server per configuration, the slow one has its own; a set of servers is
started together (tests/live.py's LiveServer through bench/harness.py's ``server``: stopped with
their workers on every way out, SIGTERM included; their output to files, removed after a clean
run), each is warmed with wrk for 2 s, then they are driven with wrk (1 thread, 32 connections:
bench/run.py's load generator), interleaved round by round. It reports the median of the
rounds: throughput (with the rounds' range, and its ratio to the first configuration's), p50, p99,
requests without an answer or with an error status, and the servers' memory (PSS of master and
workers). Writes bench/workers.md (``--out``); a progress bar on stderr when it is a terminal,
or with ``--progress``.
"""

import argparse
import os
import statistics
import sys
import time
from contextlib import ExitStack
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
# name: (gunicorn workers, gunicorn arguments)
CONFIGS = {
    f"sync x {2 * CORES + 1}": (2 * CORES + 1, ("--worker-class", "sync")),
    f"sync x {CORES}": (CORES, ("--worker-class", "sync")),  # bench/run.py's setting
    "gthread 2 x 4": (2, ("--worker-class", "gthread", "--threads", "4")),
    "gthread 2 x 8": (2, ("--worker-class", "gthread", "--threads", "8")),
    "gthread 4 x 4": (4, ("--worker-class", "gthread", "--threads", "4")),
}
# The loads, by the servers they run on (a group's loads share its servers): wrk's options.
# A connection per request, as from a proxy that keeps no upstream connection (nginx's default).
CLOSE = ["-H", "Connection: close"]
GROUPS = {
    "hit": {"hit": [], "hit, no keep-alive": CLOSE},
    "slow": {"slow db": [], "slow db, no keep-alive": CLOSE},
}
WRK_OPTIONS = ["-t1", "-c32", "--latency", "--timeout", "10s"]
WARM_SECONDS = 2


def workers(live) -> list[int]:
    """The PIDs of a server's gunicorn workers (the children of its master)."""
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


def pss(live) -> int:
    """Proportional set size of a server's processes (its master and its workers), in bytes:
    the memory they take, pages shared between them counted once in all."""
    total = 0
    for pid in [live.process.pid, *workers(live)]:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
    return total


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
    args = parser.parse_args()
    unwind_on_sigterm()

    with progress(args.progress or sys.stderr.isatty()) as bar:
        rows, setting = measure(args, bar)
    text = report(args, rows, setting)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "workers.md").write_text(text + "\n")


def measure(args: argparse.Namespace, bar) -> tuple[dict, dict]:
    """Per load and configuration, the medians of the rounds and the servers' memory."""
    import dj_database_url

    from bench.delay_proxy import DelayProxy

    bar.total = 1 + sum(2 + args.rounds * len(loads) * len(CONFIGS) for loads in GROUPS.values())
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
            rows |= run_loads(GROUPS["hit"], {}, url, wrk, script, args, bar)
            rows |= run_loads(GROUPS["slow"], slow_env, url, wrk, script, args, bar, proxy)
            setting["proxy_cpu"] = proxy.busy
    finally:
        forget_prefix()  # this run's keys in the shared Redis (the hit loads' entries)
    bar.set_description_str("done")
    return rows, setting


def run_loads(
    loads: dict, env: dict, url: str, wrk: str, script: str, args, bar, proxy=None
) -> dict:
    """Start a server per configuration with ``env``, warm each, then drive them with every
    load, interleaved round by round; the medians and each server's memory at the end. With a
    ``proxy``, its ``busy`` is set to the share of a core it used during the rounds."""
    first = next(iter(loads))
    bar.set_description_str(f"{first}: servers")
    with ExitStack() as servers:
        live = {
            name: servers.enter_context(server(url, env, workers=workers, worker_args=worker_args))
            for name, (workers, worker_args) in CONFIGS.items()
        }
        bar.update()
        bar.set_description_str(f"{first}: warm")
        # Every worker's near cache and every thread's database connection, before measuring.
        for target in live.values():
            run_wrk(wrk, target.url, script, WARM_SECONDS, WRK_OPTIONS)
        bar.update()
        samples: dict = {(load, name): [] for load in loads for name in CONFIGS}
        began, cpu = time.monotonic(), proxy.cpu_seconds() if proxy else 0.0
        for round_ in range(args.rounds):
            for load, options in loads.items():
                for name, target in live.items():
                    bar.set_description_str(f"{load}, round {round_ + 1}/{args.rounds}: {name}")
                    samples[load, name].append(
                        drive(wrk, target, script, args.seconds, WRK_OPTIONS + options)
                    )
                    bar.update()
        if proxy:
            proxy.busy = (proxy.cpu_seconds() - cpu) / (time.monotonic() - began)
        memory = {name: pss(target) for name, target in live.items()}
    rows: dict = {load: {} for load in loads}
    for (load, name), results in samples.items():
        rows[load][name] = {
            key: statistics.median(r[key] for r in results)
            for key in ("rps", "p50", "p99", "errors", "socket_errors", "busiest")
        } | {
            "pss": memory[name],
            "rps_range": (min(r["rps"] for r in results), max(r["rps"] for r in results)),
            "busiest_worst": max(r["busiest"] for r in results),
        }
    return rows


def report(args: argparse.Namespace, rows: dict, setting: dict) -> str:
    """The run's Markdown: what was measured, and a row per load and configuration."""
    sync = next(iter(CONFIGS))
    lines = [
        f"Machine: {setting['cores']} cores. Load: wrk {' '.join(WRK_OPTIONS)}, {args.rounds} "
        f"rounds x {args.seconds} s per configuration and load, interleaved; medians. `hit`: "
        f"cached post details (bench/run.py's {HOT} hot posts, near cache on), on 32 kept-alive "
        "connections; `no keep-alive`: with `Connection: close` (a connection per request, as "
        "from a proxy that keeps no upstream connection). `slow db`: the same paths with "
        f"CACHE_ENABLED=false, PostgreSQL behind a proxy adding {args.delay_ms:g} ms to what it "
        f"sends (SELECT 1: {setting['select_direct_ms']:.2f} ms direct, "
        f"{setting['select_proxy_ms']:.2f} ms through the proxy; the proxy used "
        f"{setting['proxy_cpu']:.0%} of a core meanwhile).",
        "",
        f"| load | server | req/s | rounds' req/s | vs {sync} | p50 ms | p99 ms | failed | "
        "busiest worker | memory (PSS) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for load, by_config in rows.items():
        for name, row in by_config.items():
            lines.append(
                f"| {load} | {name} | {row['rps']:,.0f} | "
                f"{row['rps_range'][0]:,.0f} to {row['rps_range'][1]:,.0f} | "
                f"{row['rps'] / by_config[sync]['rps']:.2f}x | {row['p50']:.2f} | "
                f"{row['p99']:.2f} | {row['errors'] + row['socket_errors']:.0f} | "
                f"{row['busiest']:.0%} ({row['busiest_worst']:.0%}) of {CONFIGS[name][0]} | "
                f"{row['pss'] / 2**20:.0f} MiB |"
            )
    lines += [
        "",
        "failed: responses with an error status and requests without an answer (socket errors, "
        "timeouts past 10 s). Busiest worker: its share of the workers' CPU time during a round, "
        "median of the rounds (the worst round); an even spread is 1/workers. Memory: master "
        "and workers together, pages shared between them counted once, after the load.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
