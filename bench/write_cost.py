"""A post write's cost with 1,000 against 1,000,000 unrelated keys in Redis (SPEC 8.8).

    python bench/write_cost.py [--writes 300] [--rounds 3] [--big 1000000]

Uses the configured DATABASE_URL and REDIS_URL, a key prefix of its own (deleted at the end) and
one post of its own. Each round measures both sizes (small, then big), and the medians of the
rounds are reported: the full write (ORM save: row lock, UPDATE, commit, invalidation) and the
cache work alone (``caching.outbox.apply.apply`` of the write's invalidation).
"""

import argparse
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("CACHE_KEY_PREFIX", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Settings refuse the dev secret key when DEBUG is off: a throwaway key, unless one is given.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(32))

import django  # noqa: E402

django.setup()

from caching.core import keys, rules  # noqa: E402
from caching.ops import keyspace  # noqa: E402
from caching.outbox.apply import apply  # noqa: E402
from caching.redis.connection import client as redis_client  # noqa: E402
from posts.cache import posts_page_key  # noqa: E402
from posts.models import Post  # noqa: E402
from users.cache import user_key  # noqa: E402
from users.models import User  # noqa: E402

FILLER = b'{"id":1,"title":"unrelated"}'


def fill(start: int, stop: int) -> None:
    """Unrelated keys in this prefix's own namespaces: user details and old list generations."""
    r = redis_client()
    pipe = r.pipeline(transaction=False)
    for i in range(start, stop):
        pipe.set(
            keys.physical(user_key(10_000_000 + i))
            if i % 2
            else keys.in_generation(posts_page_key(i), 1),
            FILLER,
            ex=3600,
        )
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def drop(start: int, stop: int) -> None:
    r = redis_client()
    names = [
        keys.physical(user_key(10_000_000 + i))
        if i % 2
        else keys.in_generation(posts_page_key(i), 1)
        for i in range(start, stop)
    ]
    for at in range(0, len(names), 10_000):
        r.unlink(*names[at : at + 10_000])


def time_writes(post: Post, n: int) -> tuple[float, float]:
    """Median seconds of a full write and of its cache work alone."""
    full, cache_only = [], []
    for i in range(n):
        post.title = f"bench {i}"
        began = time.perf_counter()
        post.save()
        full.append(time.perf_counter() - began)
        changes = rules.changes_for(
            Post,
            [
                rules.RowChange(
                    "update",
                    post.pk,
                    {"author_id": post.author_id, "status": "published"},
                    {"author_id": post.author_id, "status": "published"},
                )
            ],
        )
        began = time.perf_counter()
        apply(changes)
        cache_only.append(time.perf_counter() - began)
    return statistics.median(full), statistics.median(cache_only)


def measure(*, writes: int, rounds: int, small: int, big: int) -> dict:
    """Median write timings with ``small`` and ``big`` unrelated keys, interleaved by round."""
    author = User.objects.create(username=f"bench-{uuid.uuid4().hex[:8]}")
    post = Post.objects.create(author=author, title="bench", category="bench", status="published")
    results = {"small": [], "big": []}
    try:
        fill(0, small)
        for _ in range(rounds):
            results["small"].append(time_writes(post, writes))
            fill(small, big)
            results["big"].append(time_writes(post, writes))
            drop(small, big)
        drop(0, small)
    finally:
        author.delete()
    medians = {
        label: tuple(statistics.median(r[i] for r in results[label]) * 1000 for i in (0, 1))
        for label in results
    }
    return {
        "small": small,
        "big": big,
        "small_full_ms": medians["small"][0],
        "small_cache_ms": medians["small"][1],
        "big_full_ms": medians["big"][0],
        "big_cache_ms": medians["big"][1],
        "full_ratio": medians["big"][0] / medians["small"][0],
        "cache_ratio": medians["big"][1] / medians["small"][1],
    }


def forget_prefix() -> None:
    """Remove every key of this run's own prefix (values and bookkeeping, every version)."""
    keyspace.delete_matching(keys.prefix_pattern(all_versions=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    try:
        m = measure(writes=args.writes, rounds=args.rounds, small=args.small, big=args.big)
    finally:
        forget_prefix()
    print(f"{'unrelated keys':>15} {'full write p50 ms':>18} {'cache work p50 ms':>18}")
    print(f"{m['small']:>15,} {m['small_full_ms']:>18.3f} {m['small_cache_ms']:>18.3f}")
    print(f"{m['big']:>15,} {m['big_full_ms']:>18.3f} {m['big_cache_ms']:>18.3f}")
    print(f"ratio big/small: full write {m['full_ratio']:.2f}x, cache work {m['cache_ratio']:.2f}x")


if __name__ == "__main__":
    main()
