"""The read benchmark: cache hits against the framework's ceiling and against no cache.

    python bench/run.py                       # 10,000 users, 100,000 posts, 3 rounds of 8 s
    python bench/run.py --tiny                # a smoke run (the test suite uses it)
    python bench/run.py --seconds 2 --rounds 1 --out /tmp/bench   # a short run on the full data

What it does, in one run on this machine:

1. seeds a database of its own (``<DATABASE_URL's name>_bench``; reused when already seeded);
2. starts five gunicorn servers with the same settings (2 sync workers, one per core;
   ``BENCH_VIEWS=true`` mounts the ceiling view; ``DJANGO_DEBUG=false``): the default one, one
   with ``CACHE_ENABLED=false``, one with ``CACHE_NEAR_ENABLED=false``, one with
   ``HTTP_METRICS_ENABLED=false``, and the bare ceiling (bench/bare_settings.py: the same
   constant bytes as the ceiling view, behind Django's security and common middleware only, a
   ceiling that no change to the project's middleware moves); they share the run's key
   prefix, removed at the end; all are stopped, with their workers, however the run ends
   (SIGTERM included); their output (the access log included) goes to a file each under .run/,
   removed after a run that succeeded;
3. warms the cache, then drives each variant with wrk (1 thread, 4 connections), interleaved
   round by round (A B C ... A B C ...), and reports the median of the rounds: throughput, p50,
   p99 and the hit rate the server counted; a progress bar on stderr (when it is a terminal, or
   with ``--progress``) names the round and variant being run;
4. measures a post write with 1,000 and 1,000,000 unrelated keys (bench/write_cost.py), a
   ``cache_flush`` of a namespace of 1,000,000 keys on a private redis-server (SLOWLOG with a
   10 ms threshold), and ``MEMORY USAGE`` of a cached post and list page;
5. prints a Markdown table, and writes it to bench/results.md and a chart to bench/results.png.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from tqdm import tqdm  # noqa: E402

# bench.harness sets this run's key prefix and the settings module before Django is set up.
from bench.harness import (  # noqa: E402
    HOT,
    PREFIX,
    WORKERS,
    add_run_options,
    bare_ceiling,
    bare_path,
    bench_database_url,
    ensure_wrk,
    lua_script,
    prepare_database,
    progress,
    run_wrk,
    server,
    unwind_on_sigterm,
)
from tests.live import HTTP_TIMEOUT  # noqa: E402

WRK = ["-t1", "-c4", "--latency"]
SETUP_STEPS = 3  # the progress bar's steps before the variants: database, servers, warm


def worker_rss(live) -> int:
    """Mean resident memory of a server's gunicorn workers (children of its master), in bytes."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(live.process.pid):
            sizes.append(int(fields["VmRSS"].split()[0]) * 1024)
    return int(statistics.mean(sizes)) if sizes else 0


def hit_rate(before: dict, after: dict) -> float | None:
    hits = after["total"]["hits"] - before["total"]["hits"]
    misses = after["total"]["misses"] - before["total"]["misses"]
    return hits / (hits + misses) if hits + misses else None


def write_and_flush_figures(tiny: bool, cached_post: int) -> dict:
    """Memory of a cached post and list page, post write cost (1k vs 1M unrelated keys), and a
    1M-key flush under SLOWLOG (on a private redis-server, whose config it may change)."""
    from django.test import override_settings

    from bench import write_cost
    from caching import keys, service
    from caching.backend.connection import client as redis_client
    from caching.store import keyspace
    from posts.cache import post_key, posts_page_key
    from posts.selectors import post_detail
    from tests.redis_server import RedisServer

    r = redis_client()
    # The mix's last writes may have invalidated it: read it back into the cache first.
    service.get_or_load(post_key(cached_post), lambda: post_detail(cached_post))
    detail = keys.physical(post_key(cached_post))
    page = keys.in_generation(posts_page_key(1), r.get(keys.generation("posts")).decode())
    memory = {
        "bytes_per_post": r.memory_usage(detail) or 0,
        "bytes_per_page": r.memory_usage(page) or 0,
    }
    big = 20_000 if tiny else 1_000_000
    figures = memory | write_cost.measure(
        writes=5 if tiny else 200,
        rounds=1 if tiny else 3,
        small=1_000 if not tiny else 100,
        big=big,
    )

    with RedisServer() as server:
        r = server.client()
        r.config_set("slowlog-log-slower-than", 10_000)  # µs: record every command over 10 ms
        r.slowlog_reset()
        with override_settings(
            CACHES={"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url}}
        ):
            pipe = r.pipeline(transaction=False)
            for i in range(big):
                pipe.set(keys.physical(post_key(i + 1)), b"x" * 200)
                if i % 10_000 == 9_999:
                    pipe.execute()
            pipe.execute()
            began = time.monotonic()
            removed = keyspace.clear_namespace("post")
            figures["flush_seconds"] = time.monotonic() - began
            figures["flush_keys"] = removed
            figures["slow_commands"] = len(r.slowlog_get(1000))
    return figures


def chart(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    values = [rows[n]["rps"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 4))
    colors = [
        "#2b6cb0"
        if "hits" in n
        else "#a0aec0"
        if "ceiling" in n
        else "#38a169"
        if "mix" in n
        else "#dd6b20"
        for n in names
    ]
    ax.barh(names, values, color=colors)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:,.0f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("requests per second (median of rounds; 2 sync gunicorn workers, wrk -t1 -c4)")
    ax.set_title("Posts API reads: cache hits vs the ceiling view vs CACHE_ENABLED=false")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument(
        "--tiny", action="store_true", help="a smoke run: small data, 1 s per variant"
    )
    add_run_options(parser, seconds=8, rounds=3)
    args = parser.parse_args()
    unwind_on_sigterm()
    if args.tiny:
        args.users, args.posts, args.seconds, args.rounds = 20, 200, 1, 1

    with progress(args.progress or sys.stderr.isatty()) as bar:
        rows, memory, figures = measure(args, bar)
    text = report(args, rows, memory, figures)
    print(text)
    if not args.tiny:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(text + "\n")
        chart(rows, args.out / "results.png")
    else:
        chart(rows, Path(tempfile.gettempdir()) / f"{PREFIX}.png")


def measure(args: argparse.Namespace, bar: tqdm) -> tuple[dict, dict, dict]:
    """Run every variant (the medians of the rounds per variant), the worker memory and the
    write and flush figures, stepping ``bar`` along."""
    bar.total = SETUP_STEPS + 1  # until the variants are known
    bar.set_description_str("database")
    url = bench_database_url(args.tiny)
    os.environ["DATABASE_URL"] = url
    wrk = ensure_wrk()
    prepare_database(url, args.users, args.posts, args.tiny)
    bar.update()

    import django

    django.setup()
    from rest_framework.authtoken.models import Token

    from caching.store import stats as counters
    from posts.models import Post
    from users.models import User

    hot = list(
        Post.objects.filter(status="published").order_by("id").values_list("id", flat=True)[:HOT]
    )
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    token = Token.objects.get_or_create(user=staff)[0].key
    bar.set_description_str("servers")
    with ExitStack() as servers:
        on = servers.enter_context(server(url, {}))
        off = servers.enter_context(server(url, {"CACHE_ENABLED": "false"}))
        far = servers.enter_context(server(url, {"CACHE_NEAR_ENABLED": "false"}))
        # The same as `on` but for the HTTP metrics middleware (counter, histogram, gauge).
        unmetered = servers.enter_context(server(url, {"HTTP_METRICS_ENABLED": "false"}))
        bare = servers.enter_context(bare_ceiling(url))
        bar.update()
        bar.set_description_str("warm")
        detail_paths = [f"/api/posts/{pk}/" for pk in hot]

        def pages(query: str) -> int:
            count = requests.get(f"{on.url}/api/posts/?{query}", timeout=HTTP_TIMEOUT).json()[
                "count"
            ]
            return max(1, -(-count // 20))

        list_paths = [f"/api/posts/?page={n}" for n in range(1, min(10, pages("")) + 1)]
        list_paths += [
            f"/api/posts/?category=django&page={n}"
            for n in range(1, min(5, pages("category=django")) + 1)
        ]

        def warm() -> None:
            for target in (on, unmetered):  # the servers with a near cache to fill
                for path in detail_paths + list_paths:
                    requests.get(target.url + path, timeout=HTTP_TIMEOUT)

        warm()
        reader = Token.objects.get_or_create(user=User.objects.exclude(pk=staff.pk).first())[0]
        detail_size = len(requests.get(on.url + detail_paths[0], timeout=HTTP_TIMEOUT).content)
        list_size = len(requests.get(on.url + list_paths[0], timeout=HTTP_TIMEOUT).content)
        variants = {
            "detail hits": (on, lua_script(detail_paths)),
            "detail hits, HTTP metrics off": (unmetered, lua_script(detail_paths)),
            "detail hits, near off": (far, lua_script(detail_paths)),
            "detail hits, token": (on, lua_script(detail_paths, read_token=reader.key)),
            "detail hits, token, near off": (far, lua_script(detail_paths, read_token=reader.key)),
            "ceiling (detail size)": (on, lua_script([bare_path(detail_size)])),
            "bare ceiling (detail size)": (bare, lua_script([bare_path(detail_size)])),
            "detail, cache off": (off, lua_script(detail_paths)),
            "list hits": (on, lua_script(list_paths)),
            "list hits, HTTP metrics off": (unmetered, lua_script(list_paths)),
            "list hits, near off": (far, lua_script(list_paths)),
            "ceiling (list size)": (on, lua_script([bare_path(list_size)])),
            "bare ceiling (list size)": (bare, lua_script([bare_path(list_size)])),
            "list, cache off": (off, lua_script(list_paths)),
            "95/5 read/write mix": (
                on,
                lua_script(detail_paths, write_every=20, token=token, write_ids=hot[:10]),
            ),
        }
        samples = {name: [] for name in variants}
        bar.total = SETUP_STEPS + args.rounds * len(variants) + 1
        bar.update()
        for round_ in range(args.rounds):
            for name, (target, script) in variants.items():
                bar.set_description_str(f"round {round_ + 1}/{args.rounds}: {name}")
                before = counters.stats(with_keys=False)
                result = run_wrk(wrk, target.url, script, args.seconds, WRK)
                result["hit_rate"] = (
                    hit_rate(before, counters.stats(with_keys=False))
                    if target not in (off, bare) and "ceiling" not in name
                    else None
                )
                samples[name].append(result)
                if "mix" in name:  # rewarm what the writes invalidated
                    warm()
                bar.update()
        memory = {"near on": worker_rss(on), "near off": worker_rss(far)}

    rows = {}
    for name, results in samples.items():
        rates = [r["hit_rate"] for r in results if r["hit_rate"] is not None]
        rows[name] = {
            key: statistics.median(r[key] for r in results)
            for key in ("rps", "p50", "p99", "errors")
        }
        rows[name]["hit_rate"] = statistics.median(rates) if rates else None
    from bench.write_cost import forget_prefix

    bar.set_description_str("write cost, flush, memory")
    figures = write_and_flush_figures(args.tiny, hot[0])
    forget_prefix()
    bar.update()
    bar.set_description_str("done")
    return rows, memory, figures


def report(args: argparse.Namespace, rows: dict, memory: dict, figures: dict) -> str:
    """The run's Markdown: the variants' table and the measures against their targets."""
    ratio = lambda a, b: rows[a]["rps"] / rows[b]["rps"]  # noqa: E731
    p50_ratio = lambda a, b: rows[a]["p50"] / rows[b]["p50"]  # noqa: E731
    lines = [
        f"Data: {args.users:,} users, {args.posts:,} posts; {args.rounds} rounds x {args.seconds} "
        "s per variant, interleaved; medians.",
        f"Server: gunicorn, {WORKERS} sync workers; load: wrk {' '.join(WRK)}. Bare ceiling: "
        "the ceiling's bytes behind Django's security and common middleware only "
        "(bench/bare_settings.py).",
        "",
        "| variant | req/s | p50 ms | p99 ms | hit rate | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        rate = "" if row["hit_rate"] is None else f"{row['hit_rate']:.1%}"
        lines.append(
            f"| {name} | {row['rps']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {rate} | "
            f"{row['errors']:.0f} |"
        )
    lines += [
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| detail hits / bare ceiling | {ratio('detail hits', 'bare ceiling (detail size)'):.2f}x "
        "| report |",
        f"| list hits / bare ceiling | {ratio('list hits', 'bare ceiling (list size)'):.2f}x | "
        "report |",
        "| ceiling / bare ceiling (detail, list: the project's middleware) | "
        f"{ratio('ceiling (detail size)', 'bare ceiling (detail size)'):.2f}x, "
        f"{ratio('ceiling (list size)', 'bare ceiling (list size)'):.2f}x | report |",
        f"| detail hits / ceiling | {ratio('detail hits', 'ceiling (detail size)'):.2f}x | >= "
        "0.9x |",
        f"| list hits / ceiling | {ratio('list hits', 'ceiling (list size)'):.2f}x | >= 0.9x |",
        f"| token detail hits / ceiling | "
        f"{ratio('detail hits, token', 'ceiling (detail size)'):.2f}x | report |",
        "| HTTP metrics on / off (detail, list) | req/s "
        f"{ratio('detail hits', 'detail hits, HTTP metrics off'):.2f}x, "
        f"{ratio('list hits', 'list hits, HTTP metrics off'):.2f}x; p50 "
        f"{p50_ratio('detail hits', 'detail hits, HTTP metrics off'):.2f}x, "
        f"{p50_ratio('list hits', 'list hits, HTTP metrics off'):.2f}x | report |",
        f"| near on / off (detail, list, token) | "
        f"{ratio('detail hits', 'detail hits, near off'):.2f}x, "
        f"{ratio('list hits', 'list hits, near off'):.2f}x, "
        f"{ratio('detail hits, token', 'detail hits, token, near off'):.2f}x | report |",
        f"| worker memory (RSS, near on / off) | {memory['near on'] / 2**20:.0f} MiB / "
        f"{memory['near off'] / 2**20:.0f} MiB per worker | report |",
        f"| detail hits / cache off | {ratio('detail hits', 'detail, cache off'):.1f}x | >= 4x |",
        f"| list hits / cache off | {ratio('list hits', 'list, cache off'):.1f}x | >= 10x |",
        "| hit p99 / p50 (detail, list) | "
        f"{rows['detail hits']['p99'] / rows['detail hits']['p50']:.2f}, "
        f"{rows['list hits']['p99'] / rows['list hits']['p50']:.2f} | <= 2 |",
        f"| post write, {figures['big']:,} vs {figures['small']:,} unrelated keys | "
        f"{figures['full_ratio']:.2f}x "
        f"(cache work alone {figures['cache_ratio']:.2f}x) | <= 1.1x |",
        f"| cache_flush of {figures['flush_keys']:,} keys | {figures['flush_seconds']:.1f} s, "
        f"{figures['slow_commands']} commands over 10 ms | none over 10 ms |",
        f"| memory per cached post / list page | {figures['bytes_per_post']:,} B / "
        f"{figures['bytes_per_page']:,} B | report |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
