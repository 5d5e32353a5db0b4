"""SCAN-based namespace clears among many keys: the namespace goes, everything else stays."""

import pytest

from caching.core import keys
from caching.ops import keyspace
from posts.cache import post_key, posts_page_key
from users.cache import user_key

pytestmark = pytest.mark.django_db

OTHERS = 20_000


def fill(redis, names):
    pipe = redis.pipeline(transaction=False)
    for i, name in enumerate(names):
        pipe.set(name, b"{}", ex=600)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def test_clear_one_namespace_among_20000_keys(redis, cache_prefix):
    posts = [keys.physical(post_key(i)) for i in range(1, 3001)]
    others = [keys.physical(user_key(i)) for i in range(1, OTHERS // 2 + 1)]
    others += [keys.in_generation(posts_page_key(i), 1) for i in range(1, OTHERS // 2 + 1)]
    # Look-alikes that a sloppy pattern would catch: another prefix, and a key with no prefix.
    decoys = [f"x{cache_prefix}:2:post:1", "post:1"]
    fill(redis, posts + others)
    redis.set(decoys[0], b"{}", ex=600)
    try:
        assert keyspace.count_keys()["post"] == 3000
        assert keyspace.clear_namespace("post", dry_run=True) == 3000
        assert keyspace.count_keys()["post"] == 3000
        assert keyspace.clear_namespace("post") == 3000
        assert keyspace.count_keys()["post"] == 0
        assert redis.exists(*posts[:100]) == 0
        assert keyspace.count_keys()["user"] == OTHERS // 2
        assert keyspace.count_keys()["posts"] == OTHERS // 2
        assert redis.exists(decoys[0]) == 1
    finally:
        redis.delete(decoys[0])
