"""The key builder: canonical logical keys, escaped request values, namespace patterns."""

import fnmatch

import pytest
from redis.crc import key_slot

from caching.core import keys
from posts.cache import post_key, posts_page_key
from users.cache import user_key, users_page_key


def test_logical_keys_follow_the_spec():
    assert str(user_key(123)) == "user:123"
    assert str(users_page_key(2)) == "users:page:2"
    assert str(post_key(7)) == "post:7"
    assert str(posts_page_key(2)) == "posts:page:2"
    assert str(posts_page_key(1, category="django")) == "posts:category:django:page:1"
    assert str(posts_page_key(3, author=5)) == "posts:author:5:page:3"
    assert (
        str(posts_page_key(1, category="django", author=5))
        == "posts:author:5:category:django:page:1"
    )


@pytest.mark.parametrize("value", ["*", "a*", "?", "[a-z]", "a:b", "x" * 65, "ü", "a b", "\\"])
def test_unsafe_values_are_hashed_into_one_safe_segment(value):
    key = str(posts_page_key(1, category=value))
    middle = key.removeprefix("posts:category:").removesuffix(":page:1")
    assert middle.startswith("~") and all(c.isalnum() or c == "~" for c in middle)
    assert key != str(posts_page_key(1, category=value + "x"))


def test_hashed_segment_cannot_collide_with_a_safe_one():
    hashed = keys.segment("a*")
    assert keys.segment(hashed) != hashed  # "~" is not a safe character: it is hashed again


def test_physical_keys_carry_prefix_version_and_hash_tag(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": "pfx"}
    assert keys.physical(post_key(1)) == "pfx:5:{post.1}:post:1"
    assert keys.physical(post_key(65)) == "pfx:5:{post.1}:post:65"  # 64 shards
    assert (
        keys.physical(posts_page_key(2, category="a")) == "pfx:5:{posts.0}:posts:category:a:page:2"
    )
    assert keys.generation("posts") == "pfx:5:{posts.0}:_gen"
    assert keys.namespace_pattern("post") == "pfx:5:{post.*}:post:*"
    assert keys.refresh_lease(keys.physical(post_key(1))) == "pfx:5:{post.1}:post:1:refresh"
    # The previous version's layout, still invalidated during a rolling deploy:
    assert keys.physical(post_key(1), 4) == "pfx:4:{post.1}:post:1"
    assert keys.generation("posts", 4) == "pfx:4:{posts.0}:_gen"


def test_prefix_with_glob_characters_is_escaped(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": "a*[b]?"}
    pattern = keys.namespace_pattern("post")
    assert pattern == "a\\*\\[b\\]\\?:5:{post.*}:post:*"


def test_a_prefix_with_braces_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from caching.apps import check_options

    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": "a{b}"}
    with pytest.raises(ImproperlyConfigured, match="hash tag"):
        keys.physical(post_key(1))
    assert [error.id for error in check_options()] == ["caching.E001"]  # manage.py check fails


@pytest.mark.parametrize(
    "key",
    [
        post_key(1),
        post_key(2**62 + 3),
        user_key(77),
        posts_page_key(3, author=5, category="x*"),
        users_page_key(9),
    ],
)
def test_every_key_a_script_touches_shares_the_value_slot(key):
    """READ, STORE and RELEASE run on one cluster node: value, generation, stats and history."""
    slot = key_slot(keys.physical(key).encode())
    together = [
        keys.stats_of(key),
        keys.history(key.namespace, key.shard, 493_000),
        keys.in_generation(key, 12),
    ]
    if key.namespace in ("posts", "users"):
        together.append(keys.generation(key.namespace))
    assert {key_slot(name.encode()) for name in together} == {slot}


def test_detail_keys_spread_over_every_primary_of_a_three_node_cluster():
    """``redis-cli --cluster create`` gives 3 primaries slots 0-5460, 5461-10922, 10923-16383."""
    slots = {key_slot(keys.physical(post_key(pk)).encode()) for pk in range(1, 1000)}
    assert len(slots) == keys.SHARDS
    per_primary = [
        sum(1 for s in slots if low <= s <= high)
        for low, high in ((0, 5460), (5461, 10922), (10923, 16383))
    ]
    assert min(per_primary) >= keys.SHARDS // 6, per_primary


@pytest.mark.parametrize(
    "key", [post_key(130), user_key(1), posts_page_key(2, category="django"), users_page_key(1)]
)
def test_a_key_restored_from_the_outbox_is_the_same_key(key):
    assert keys.restore(key.namespace, key.logical) == key


@pytest.mark.parametrize("name", ["post*", "p?st", "[p]ost", "post:1", "Post", "", "a" * 41])
def test_namespace_pattern_refuses_anything_but_a_name(name):
    with pytest.raises(ValueError):
        keys.namespace_pattern(name)


def test_namespace_pattern_does_not_reach_a_longer_namespace(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": ""}
    pattern = keys.namespace_pattern("post")
    assert fnmatch.fnmatchcase(keys.physical(post_key(1)), pattern)
    assert not fnmatch.fnmatchcase(keys.physical(posts_page_key(1)), pattern)


def test_a_tokens_reader_key_stays_the_same_across_releases(settings):
    """The keyed hash under which a token's reader is cached is part of the key layout: a
    release that moved it would read readers the old release's workers cannot invalidate."""
    from api.authentication import _hash_key, reader_key

    settings.SECRET_KEY = "pinned-secret-key"
    _hash_key.cache_clear()
    assert reader_key("token-1").logical == "reader:~67e91a7e8e28cf7788e0f212ae85286e"


def test_token_readers_spread_over_every_shard_and_the_old_layout_is_still_found(settings):
    """Reader keys (a hash of the token) spread over the 64 shards like detail keys, so no one
    primary of a cluster holds them all; the previous version (3) kept them in shard 0, where a
    rolling deploy still invalidates them."""
    from api.authentication import _hash_key, reader_key

    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": "pfx"}
    _hash_key.cache_clear()
    readers = [reader_key(f"token-{n}") for n in range(2000)]
    assert {key.shard for key in readers} == set(range(keys.SHARDS))
    key = readers[0]
    assert keys.physical(key) == f"pfx:5:{{reader.{key.shard}}}:{key.logical}"
    assert keys.physical(key, 3) == f"pfx:3:{{reader.0}}:{key.logical}"
    assert keys.restore("reader", key.logical) == key  # as the outbox keeps it
