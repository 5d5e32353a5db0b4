"""The key builder: canonical logical keys, escaped request values, namespace patterns."""

import fnmatch

import pytest

from caching import keys
from posts.cache import post_key, posts_page_key
from users.cache import user_key, users_page_key


def test_logical_keys_follow_the_spec():
    assert str(user_key(123)) == "user:123"
    assert str(users_page_key(2)) == "users:page:2"
    assert str(post_key(7)) == "post:7"
    assert str(posts_page_key(2)) == "posts:page:2"
    assert str(posts_page_key(1, category="django")) == "posts:category:django:page:1"
    assert str(posts_page_key(3, author=5)) == "posts:author:5:page:3"
    assert str(posts_page_key(1, category="django", author=5)) == "posts:author:5:category:django:page:1"


@pytest.mark.parametrize("value", ["*", "a*", "?", "[a-z]", "a:b", "x" * 65, "ü", "a b", "\\"])
def test_unsafe_values_are_hashed_into_one_safe_segment(value):
    key = str(posts_page_key(1, category=value))
    middle = key.removeprefix("posts:category:").removesuffix(":page:1")
    assert middle.startswith("~") and all(c.isalnum() or c == "~" for c in middle)
    assert key != str(posts_page_key(1, category=value + "x"))


def test_hashed_segment_cannot_collide_with_a_safe_one():
    hashed = keys.segment("a*")
    assert keys.segment(hashed) != hashed  # "~" is not a safe character: it is hashed again


def test_physical_keys_carry_prefix_and_version(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": "pfx"}
    assert keys.physical(post_key(1)) == "pfx:2:post:1"
    assert keys.namespace_pattern("post") == "pfx:2:post:*"


def test_prefix_with_glob_characters_is_escaped(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": "a*[b]?"}
    pattern = keys.namespace_pattern("post")
    assert pattern == "a\\*\\[b\\]\\?:2:post:*"


@pytest.mark.parametrize("name", ["post*", "p?st", "[p]ost", "post:1", "Post", "", "a" * 41])
def test_namespace_pattern_refuses_anything_but_a_name(name):
    with pytest.raises(ValueError):
        keys.namespace_pattern(name)


def test_namespace_pattern_does_not_reach_a_longer_namespace(settings):
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "KEY_PREFIX": ""}
    pattern = keys.namespace_pattern("post")
    assert fnmatch.fnmatchcase(keys.physical(post_key(1)), pattern)
    assert not fnmatch.fnmatchcase(keys.physical(posts_page_key(1)), pattern)
