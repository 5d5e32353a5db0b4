"""A post write's cost with 1,000 against 1,000,000 unrelated keys in Redis (SPEC 8.8).

    python bench/write_cost.py [--writes 300] [--rounds 3] [--big 1000000]

Uses the configured DATABASE_URL and REDIS_URL, a key prefix of its own (deleted at the end) and
one post of its own. Each round measures both sizes (small, then big), and the medians of the
rounds are reported: the full write (ORM save: row lock, UPDATE, commit, invalidation) and the
cache work alone (``service.apply`` of the write's invalidation).
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["CACHE_KEY_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from caching import client, keys, registry, service  # noqa: E402
from posts.cache import posts_page_key  # noqa: E402
from posts.models import Post  # noqa: E402
from users.cache import user_key  # noqa: E402
from users.models import User  # noqa: E402

FILLER = b'{"id":1,"title":"unrelated"}'


def fill(start: int, stop: int) -> None:
    """Unrelated keys in this prefix's own namespaces: user details and old list generations."""
    r = client.connection()
    pipe = r.pipeline(transaction=False)
    for i in range(start, stop):
        pipe.set(keys.physical(user_key(10_000_000 + i)) if i % 2 else keys.in_generation(posts_page_key(i), 1), FILLER, ex=3600)
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def drop(start: int, stop: int) -> None:
    r = client.connection()
    names = [keys.physical(user_key(10_000_000 + i)) if i % 2 else keys.in_generation(posts_page_key(i), 1) for i in range(start, stop)]
    for at in range(0, len(names), 10_000):
        r.unlink(*names[at:at + 10_000])


def time_writes(post: Post, n: int) -> tuple[float, float]:
    """Median seconds of a full write and of its cache work alone."""
    full, cache_only = [], []
    for i in range(n):
        post.title = f"bench {i}"
        began = time.perf_counter()
        post.save()
        full.append(time.perf_counter() - began)
        changes = registry.changes_for(Post, [registry.RowChange("update", post.pk, {"author_id": post.author_id, "status": "published"}, {"author_id": post.author_id, "status": "published"})])
        began = time.perf_counter()
        service.apply(changes)
        cache_only.append(time.perf_counter() - began)
    return statistics.median(full), statistics.median(cache_only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    author = User.objects.create(username=f"bench-{uuid.uuid4().hex[:8]}")
    post = Post.objects.create(author=author, title="bench", category="bench", status="published")
    results = {"small": [], "big": []}
    try:
        fill(0, args.small)
        for _ in range(args.rounds):
            results["small"].append(time_writes(post, args.writes))
            fill(args.small, args.big)
            info = client.connection().info("keyspace")
            results["big"].append(time_writes(post, args.writes))
            drop(args.small, args.big)
        print(f"Redis keyspace during the big runs: {info}")
        print(f"{'unrelated keys':>15} {'full write p50 ms':>18} {'cache work p50 ms':>18}")
        medians = {}
        for label, size in (("small", args.small), ("big", args.big)):
            full = statistics.median(r[0] for r in results[label]) * 1000
            cache_only = statistics.median(r[1] for r in results[label]) * 1000
            medians[label] = (full, cache_only)
            print(f"{size:>15,} {full:>18.3f} {cache_only:>18.3f}")
        print(f"ratio big/small: full write {medians['big'][0] / medians['small'][0]:.2f}x, "
              f"cache work {medians['big'][1] / medians['small'][1]:.2f}x")
    finally:
        author.delete()
        for name in registry.namespaces():
            service.clear_namespace(name)
        client.connection().delete(keys.stats(), *(keys.generation(n) for n in registry.namespaces()))


if __name__ == "__main__":
    main()
