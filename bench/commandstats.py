"""Redis commands per hot hit: one post read 600 times in about a second through a server (the
read benchmark's gunicorn, bench/harness.py's ``server``), on a private redis-server and on a
private 6-node Redis Cluster (scripts/redis_cluster.py), the commands every node ran meanwhile.

    python bench/commandstats.py [--reads 600] [--seconds 1]

Uses the read benchmark's database (seeded by bench/run.py). Each server runs alone on its
Redis: warmed (the post cached, a near cache up), then ``CONFIG RESETSTAT`` on every node, the
reads (one connection, paced over ``--seconds``), and ``INFO commandstats`` of every node,
summed (the RESETSTAT itself left out): the commands of the hits and whatever the servers do
in the background meanwhile (near cache upkeep, heartbeats), and on a cluster the replicas'
share. Prints Markdown tables; writes no file. The private servers are stopped by PID at the
end, with everything they held.
"""

import argparse
import os
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench.harness import (  # noqa: E402
    PREFIX,
    ROOT,
    WORKERS,
    bench_database_url,
    server,
    unwind_on_sigterm,
)
from tests.live import HTTP_TIMEOUT  # noqa: E402

SETTLE_S = 1.0  # after the warming reads, the servers' background work goes back to its pace
OWN = {"config|resetstat"}  # the measurement's own commands
# name: (on the cluster, the server's extra environment)
TARGETS = {
    "one Redis": (False, {}),
    "one Redis, near off": (False, {"CACHE_NEAR_ENABLED": "false"}),
    "cluster": (True, {}),
    "cluster, near off": (True, {"CACHE_NEAR_ENABLED": "false"}),
}


def read(url: str, reads: int, seconds: float) -> tuple[Counter[str], float]:
    """GET ``url`` ``reads`` times, paced over ``seconds``: the X-Cache answers, the time taken.
    Paced, the reads reach both workers (back to back, one worker may take them all)."""
    session = requests.Session()
    answers: Counter[str] = Counter()
    began = time.monotonic()
    for i in range(reads):
        time.sleep(max(0.0, began + i * seconds / reads - time.monotonic()))
        response = session.get(url, timeout=HTTP_TIMEOUT)
        answers[response.headers.get("X-Cache", str(response.status_code))] += 1
    return answers, time.monotonic() - began


def count(live, nodes: list, path: str, reads: int, seconds: float) -> dict:
    """Read ``path`` on ``live`` once to warm it (every worker has the post, and a near cache its
    copy), then again: the X-Cache answers, the time taken and the calls per (role, command)
    summed over ``nodes``, ``(role, client)`` pairs, during the second pass."""
    read(live.url + path, reads, seconds)
    time.sleep(SETTLE_S)
    for _, node in nodes:
        node.config_resetstat()
    answers, taken = read(live.url + path, reads, seconds)
    calls: Counter[tuple[str, str]] = Counter()
    for role, node in nodes:
        for name, stat in node.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            if command not in OWN:
                calls[role, command] += stat["calls"]
    return {"answers": dict(answers), "seconds": taken, "calls": calls}


def report(reads: int, results: dict) -> str:
    lines = [
        "## Redis commands per hot hit",
        "",
        f"One post read {reads} times, paced over about a second on one connection, through "
        f"gunicorn ({WORKERS} sync workers), each server alone on a private Redis: a "
        "redis-server, or a 6-node Redis Cluster (3 primaries, 3 replicas). Commands: `INFO "
        "commandstats` summed over every node after `CONFIG RESETSTAT` on each (left out); "
        "the commands a script runs count too, and a replica's are what it applied of its "
        "primary's writes.",
        "",
        "| server | seconds | X-Cache | commands | per read |",
        "|---|---|---|---|---|",
    ]
    for name, found in results.items():
        total = sum(found["calls"].values())
        answers = ", ".join(f"{a} {n}" for a, n in sorted(found["answers"].items()))
        lines.append(
            f"| {name} | {found['seconds']:.2f} | {answers} | {total:,} | {total / reads:.3f} |"
        )
    columns = [
        (name, role)
        for name, found in results.items()
        for role in sorted({role for role, _ in found["calls"]})
    ]
    totals: Counter[str] = Counter()
    for found in results.values():
        for (_, command), calls in found["calls"].items():
            totals[command] += calls
    lines += [
        "",
        "Calls by command (per read), on the primaries and on the replicas:",
        "",
        "| command | " + " | ".join(f"{name}: {role}" for name, role in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for command, _ in totals.most_common():
        cells = []
        for name, role in columns:
            calls = results[name]["calls"][role, command]
            cells.append(f"{calls:,} ({calls / reads:.3f})" if calls else "")
        lines.append(f"| {command} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    unwind_on_sigterm()
    url = bench_database_url(tiny=False)
    os.environ["DATABASE_URL"] = url

    import django

    django.setup()
    from posts.models import Post
    from scripts.redis_cluster import Cluster
    from tests.redis_server import RedisServer

    hot = Post.objects.filter(status="published").order_by("id").values_list("id", flat=True)[0]
    results = {}
    with ExitStack() as started:
        single = started.enter_context(RedisServer())
        cluster = started.enter_context(Cluster(ROOT / ".run" / f"cluster-{PREFIX}"))
        for name, (clustered, env) in TARGETS.items():
            if clustered:
                primaries = set(cluster.primaries())
                nodes = [
                    ("primaries" if port in primaries else "replicas", cluster.node(port))
                    for port in cluster.ports
                ]
            else:
                nodes = [("primaries", single.client())]
            where = cluster.url if clustered else single.url
            with server(url, {"REDIS_URL": where, **env}) as live:
                results[name] = count(live, nodes, f"/api/posts/{hot}/", args.reads, args.seconds)
    print(report(args.reads, results))


if __name__ == "__main__":
    main()
