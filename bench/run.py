"""The read benchmark: cache hits against the framework's ceilings and against no cache, and
the production start (granian) against gunicorn.

    python bench/run.py                       # 10,000 users, 100,000 posts, 3 rounds of 8 s
    python bench/run.py --section servers     # only the servers section (bench/servers.py)
    python bench/run.py --tiny --out /tmp/b   # a smoke run (the test suite's); no --out: no files
    python bench/run.py --seconds 2 --rounds 1 --out /tmp/bench   # a short run on the full data
    python bench/run.py --section cache --cluster start   # hits on one Redis against a cluster

What it does, in one run on this machine (``--section`` picks the cache section, steps 2 to 4,
or the servers section, step 5; both by default):

1. seeds a database of its own (``<DATABASE_URL's name>_bench``; reused when already seeded);
2. starts five gunicorn servers with the same settings (2 sync workers, one per core;
   ``BENCH_VIEWS=true`` mounts the ceiling view; ``DJANGO_DEBUG=false``): the default one, one
   with ``CACHE_ENABLED=false``, one with ``CACHE_NEAR_ENABLED=false``, one with
   ``HTTP_METRICS_ENABLED=false``, and the bare ceiling (bench/bare_settings.py: the same
   constant bytes as the ceiling view, behind Django's security and common middleware only, a
   ceiling that no change to the project's middleware moves); they share the run's key
   prefix, removed at the end; all are stopped, with their workers, however the run ends
   (SIGTERM included); their output (the access log included) goes to a file each under .run/,
   removed after a run that succeeded; with ``--cluster``, two more on a Redis Cluster
   (``REDIS_URL``): the default one and one with ``CACHE_NEAR_ENABLED=false``, on the cluster
   the option names (the run's keys removed from it at the end) or, with ``--cluster start``, on
   a private 6-node one started under .run/ (scripts/redis_cluster.py) and stopped at the end;
3. warms the cache, then drives each variant with wrk (1 thread, 4 connections), interleaved
   round by round (A B C ... A B C ...), and reports the median of the rounds: throughput, p50,
   p99 and the hit rate the server counted; a progress bar on stderr (when it is a terminal, or
   with ``--progress``) names the round and variant being run;
4. measures a post write with 1,000 and 1,000,000 unrelated keys (bench/write_cost.py), a
   ``cache_flush`` of a namespace of 1,000,000 keys on a private redis-server (SLOWLOG with a
   10 ms threshold), and ``MEMORY USAGE`` of a cached post and list page;
5. runs the servers section (bench/servers.py): the production start against today's gunicorn
   start (gthread 2 x 8), and hits against the bare ceiling under the same server;
6. prints Markdown tables, and writes them to bench/results.md, the numbers behind them to
   bench/results.json and a chart of the cache section to bench/results.png (to ``--out``
   instead; a ``--tiny`` run writes only there, never over bench/'s results).
"""

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from tqdm import tqdm  # noqa: E402

# bench.harness sets this run's key prefix and the settings module before Django is set up.
from bench import servers  # noqa: E402
from bench.harness import (  # noqa: E402
    HOT,
    PREFIX,
    ROOT,
    WORKERS,
    add_run_options,
    bare_ceiling,
    bare_path,
    bench_database_url,
    ensure_wrk,
    interleave,
    lua_script,
    prepare_database,
    progress,
    read_paths,
    server,
    unwind_on_sigterm,
    variants_table,
)
from tests.live import HTTP_TIMEOUT  # noqa: E402

WRK = ["-t1", "-c4", "--latency"]


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


def write_and_flush_figures(tiny: bool, cached_post: int) -> dict:
    """Memory of a cached post and list page, post write cost (1k vs 1M unrelated keys), and a
    1M-key flush under SLOWLOG (on a private redis-server, whose config it may change)."""
    from django.test import override_settings

    from bench import write_cost
    from caching.core import keys
    from caching.ops import keyspace
    from caching.reads.get_or_load import get_or_load
    from caching.redis.connection import client as redis_client
    from posts.cache import post_key, posts_page_key
    from posts.entries import post_detail
    from tests.redis_server import RedisServer

    r = redis_client()
    # The mix's last writes may have invalidated it: read it back into the cache first.
    get_or_load(post_key(cached_post), lambda: post_detail(cached_post))
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
    parser.add_argument(
        "--section",
        choices=("all", *SECTIONS),
        default="all",
        help="cache: the cache's variants under gunicorn; servers: the production start against "
        "gunicorn (bench/servers.py); all: both, one after the other",
    )
    parser.add_argument(
        "--cluster",
        metavar="URL",
        help="the cache section also drives hits on servers on this Redis Cluster "
        "(redis+cluster://host:port,...; the run's keys are removed from it at the end), or, "
        "with 'start', on a private 6-node one started for the run (scripts/redis_cluster.py)",
    )
    servers.add_options(parser)
    add_run_options(parser, seconds=8, rounds=3)
    args = parser.parse_args()
    if args.cluster and args.section == "servers":
        parser.error("--cluster is for the cache section")
    if args.cluster not in (None, "start") and "+cluster://" not in args.cluster:
        parser.error("--cluster takes 'start' or a redis+cluster:// URL")
    unwind_on_sigterm()
    if args.tiny:
        args.users, args.posts, args.seconds, args.rounds = 20, 200, 1, 1
    # A smoke run's numbers are no results: written only where --out says, never over bench/'s.
    out = None if args.tiny and args.out == parser.get_default("out") else args.out

    with progress(args.progress or sys.stderr.isatty()) as bar:
        results = measure(args, bar)
    text = "\n\n".join(SECTIONS[name][1](args, *found) for name, found in results.items())
    print(text)
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text + "\n")
    # Per section, what its report takes (the variants' rows first).
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if "cache" in results:
        chart(results["cache"][0], out / "results.png")


def measure(args: argparse.Namespace, bar: tqdm) -> dict:
    """Run the sections ``args.section`` names, stepping ``bar`` along: per section, what its
    report takes."""
    chosen = list(SECTIONS) if args.section == "all" else [args.section]
    bar.total = 1 + sum(SECTIONS[name][2] for name in chosen)  # grows by the variants
    bar.set_description_str("database")
    url = bench_database_url(args.tiny)
    os.environ["DATABASE_URL"] = url
    wrk = ensure_wrk()
    prepare_database(url, args.users, args.posts, args.tiny)
    bar.update()

    import django

    django.setup()
    from bench.write_cost import forget_prefix
    from posts.models import Post

    hot = list(
        Post.objects.filter(status="published").order_by("id").values_list("id", flat=True)[:HOT]
    )
    try:
        results = {name: SECTIONS[name][0](args, bar, wrk, url, hot) for name in chosen}
    finally:
        forget_prefix()  # this run's keys in the shared Redis
    bar.set_description_str("done")
    return results


def measure_cache(args: argparse.Namespace, bar: tqdm, wrk: str, url: str, hot: list[int]):
    """The cache's variants (the medians of the rounds per variant), the worker memory and the
    write and flush figures."""
    from rest_framework.authtoken.models import Token

    from users.models import User

    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    token = Token.objects.get_or_create(user=staff)[0].key
    bar.set_description_str("servers")
    with ExitStack() as started:
        on = started.enter_context(server(url, {}))
        off = started.enter_context(server(url, {"CACHE_ENABLED": "false"}))
        far = started.enter_context(server(url, {"CACHE_NEAR_ENABLED": "false"}))
        # The same as `on` but for the HTTP metrics middleware (counter, histogram, gauge).
        unmetered = started.enter_context(server(url, {"HTTP_METRICS_ENABLED": "false"}))
        bare = started.enter_context(bare_ceiling(url))
        # Entries that expire every second, refreshed early (XFetch) or not: the hit path's p99
        # across expiries against the default server's.
        # Their own keys (under this run's prefix, so removed with it): 1 s stamps, not the
        # default server's.
        expiring = {
            "DJANGO_SETTINGS_MODULE": "bench.expiring_settings",
            "CACHE_KEY_PREFIX": f"{PREFIX}:expiring",
        }
        refreshed = started.enter_context(server(url, expiring))
        expired = started.enter_context(server(url, {**expiring, "CACHE_EARLY_REFRESH_BETA": "0"}))
        # Last in, first out: stopped before the cluster's keys are removed (or it is stopped).
        clustered = started.enter_context(on_cluster(args.cluster, url)) if args.cluster else ()
        bar.update()
        bar.set_description_str("warm")
        detail_paths, list_paths = read_paths(on.url, hot)
        reader = Token.objects.get_or_create(user=User.objects.exclude(pk=staff.pk).first())[0]

        def warm() -> None:
            # The servers with a near cache to fill, and the cluster's entries (its own keys).
            for target in (on, unmetered, *clustered[:2]):
                for path in detail_paths + list_paths:
                    requests.get(target.url + path, timeout=HTTP_TIMEOUT)
            # The token variants' servers: the token's reader is keyed by a server's secret key.
            for target in (on, far):
                requests.get(
                    target.url + detail_paths[0],
                    headers={"Authorization": f"Token {reader.key}"},
                    timeout=HTTP_TIMEOUT,
                )

        warm()
        detail_size = len(requests.get(on.url + detail_paths[0], timeout=HTTP_TIMEOUT).content)
        list_size = len(requests.get(on.url + list_paths[0], timeout=HTTP_TIMEOUT).content)
        bar.update()
        detail, lists = lua_script(detail_paths), lua_script(list_paths)
        detail_token = lua_script(detail_paths, read_token=reader.key)
        variants = {
            "detail hits": (on, detail, True),
            "detail hits, HTTP metrics off": (unmetered, detail, True),
            "detail hits, near off": (far, detail, True),
            "detail hits, token": (on, detail_token, True),
            "detail hits, token, near off": (far, detail_token, True),
            "ceiling (detail size)": (on, lua_script([bare_path(detail_size)]), False),
            "bare ceiling (detail size)": (bare, lua_script([bare_path(detail_size)]), False),
            "detail, cache off": (off, detail, False),
            # Not "hits": a reload answers MISS (the hit variants must be all hits); counted
            # under their own prefix, so not here.
            "detail, TTL 1 s": (refreshed, detail, False),
            "detail, TTL 1 s, early refresh off": (expired, detail, False),
            "list hits": (on, lists, True),
            "list hits, HTTP metrics off": (unmetered, lists, True),
            "list hits, near off": (far, lists, True),
            "ceiling (list size)": (on, lua_script([bare_path(list_size)]), False),
            "bare ceiling (list size)": (bare, lua_script([bare_path(list_size)]), False),
            "list, cache off": (off, lists, False),
            "95/5 read/write mix": (
                on,
                lua_script(detail_paths, write_every=20, token=token, write_ids=hot[:10]),
                True,
            ),
        }

        if clustered:  # their hits are counted on the cluster
            near, near_off, counted = clustered
            for kind, script in (("detail", detail), ("list", lists)):
                variants[f"{kind} hits, cluster"] = (near, script, counted)
                variants[f"{kind} hits, cluster, near off"] = (near_off, script, counted)

        def rewarm(name: str) -> None:
            if "mix" in name:  # what the writes invalidated
                warm()

        rows = interleave(wrk, variants, args, WRK, bar, after=rewarm)
        memory = {"near on": worker_rss(on), "near off": worker_rss(far)}

    bar.set_description_str("write cost, flush, memory")
    figures = write_and_flush_figures(args.tiny, hot[0])
    bar.update()
    return rows, memory, figures


@contextmanager
def on_cluster(given: str, url: str):
    """Two servers on the Redis Cluster ``given`` (a URL, or "start": a private one under .run/,
    stopped at the end), the default one and one with the near cache off, and the function that
    reads the hit counters there; this run's keys are removed from a given cluster at the end."""
    from django.conf import settings
    from django.test import override_settings

    from bench.write_cost import forget_prefix
    from caching.ops import stats as counters
    from scripts.redis_cluster import Cluster

    def there():  # this process's cache on the cluster (its client is made anew, and undone)
        return override_settings(
            CACHES={"default": {**settings.CACHES["default"], "LOCATION": [given]}}
        )

    def cluster_stats(**options) -> dict:
        with there():
            return counters.stats(**options)

    with ExitStack() as started:
        if given == "start":
            given = started.enter_context(Cluster(ROOT / ".run" / f"cluster-{PREFIX}")).url
        else:
            started.callback(there()(forget_prefix))
        env = {"REDIS_URL": given}
        yield (
            started.enter_context(server(url, env)),
            started.enter_context(server(url, {**env, "CACHE_NEAR_ENABLED": "false"})),
            cluster_stats,
        )


def report_cache(args: argparse.Namespace, rows: dict, memory: dict, figures: dict) -> str:
    """The cache section's Markdown: the variants' table and the measures against their
    targets."""
    ratio = lambda a, b: rows[a]["rps"] / rows[b]["rps"]  # noqa: E731
    p50_ratio = lambda a, b: rows[a]["p50"] / rows[b]["p50"]  # noqa: E731
    cluster = ""
    if args.cluster:
        cluster = " Cluster: the default server and one with the near cache off on " + (
            "a private 6-node Redis Cluster (3 primaries, 3 replicas; scripts/redis_cluster.py)."
            if args.cluster == "start"
            else "the Redis Cluster of --cluster."
        )
    lines = [
        "## The cache",
        "",
        f"Data: {args.users:,} users, {args.posts:,} posts; {args.rounds} rounds x {args.seconds} "
        "s per variant, interleaved; medians.",
        f"Server: gunicorn, {WORKERS} sync workers; load: wrk {' '.join(WRK)}. Bare ceiling: "
        "the ceiling's bytes behind Django's security and common middleware only "
        "(bench/bare_settings.py)." + cluster,
        "",
        *variants_table(rows),
    ]
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
        "| detail p99 across expiries (TTL 1 s) / without (early refresh on, off) | "
        f"{rows['detail, TTL 1 s']['p99'] / rows['detail hits']['p99']:.2f}x, "
        f"{rows['detail, TTL 1 s, early refresh off']['p99'] / rows['detail hits']['p99']:.2f}x "
        "| <= 1.5x (on) |",
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
    if args.cluster:
        lines += [
            "| detail hits, cluster / one Redis | "
            f"{ratio('detail hits, cluster', 'detail hits'):.2f}x | >= 0.9x |",
            f"| list hits, cluster / one Redis | {ratio('list hits, cluster', 'list hits'):.2f}x "
            "| >= 0.9x |",
            "| cluster near on / off (detail, list) | "
            f"{ratio('detail hits, cluster', 'detail hits, cluster, near off'):.2f}x, "
            f"{ratio('list hits, cluster', 'list hits, cluster, near off'):.2f}x | report |",
        ]
    return "\n".join(lines)


# name: (measure, report, the progress bar's steps besides the variants)
SECTIONS = {
    "cache": (measure_cache, report_cache, 3),
    "servers": (servers.measure, servers.report, 2),
}


if __name__ == "__main__":
    main()
