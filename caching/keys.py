"""Every cache key string is built here, and nowhere else.

Logical keys (SPEC section 6) name what is cached: ``post:12``, ``posts:page:2``,
``posts:author:5:category:django:page:1``. The namespace is the first segment. Physical keys add
the deployment prefix and a version segment (``<prefix>:2:<logical>``, django-redis's layout); keys of a
generational namespace (the lists) end in ``:g<generation>``, appended in Redis by the read script
so that reading the generation and the value is one round trip.

Request values become key segments only through ``segment()``: anything outside
``[A-Za-z0-9_-]`` is replaced by a hash, so ``*``, ``?``, ``[`` or ``:`` in a slug can neither
widen a SCAN pattern nor forge another key.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from caching.conf import options

# The version segment of every physical key. Bump it whenever the stored entry format
# changes: a deploy then reads none of the old entries (they expire by their TTL).
VERSION = 2  # 2: entries hold rendered JSON parts (caching.entry)
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAMESPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True, slots=True)
class CacheKey:
    namespace: str
    logical: str

    def __str__(self) -> str:
        return self.logical


def segment(value: object) -> str:
    """A key segment for ``value``: itself when safe, else ``~`` and a hash of it."""
    text = str(value)
    if _SAFE_SEGMENT.fullmatch(text):
        return text
    return "~" + hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def detail(namespace: str, pk: int) -> CacheKey:
    """``<namespace>:<pk>``, e.g. ``post:12``."""
    return CacheKey(namespace, f"{namespace}:{int(pk)}")


def page(namespace: str, number: int, filters: Mapping[str, object] | None = None) -> CacheKey:
    """``<namespace>[:<filter>:<value>...]:page:<n>``, filters in alphabetical (canonical) order."""
    parts = [namespace]
    for name in sorted(filters or {}):
        value = filters[name]
        if value is not None:
            parts += [segment(name), segment(value)]
    parts += ["page", str(int(number))]
    return CacheKey(namespace, ":".join(parts))


def _base(version: int = VERSION) -> str:
    return f"{options().key_prefix}:{version}:"


def physical(key: CacheKey, version: int = VERSION) -> str:
    """The Redis key of ``key`` (without the generation suffix of list namespaces)."""
    return _base(version) + key.logical


def generation(namespace: str, version: int = VERSION) -> str:
    """The counter whose value suffixes every key of a generational namespace."""
    return f"{_base(version)}_gen:{namespace}"


# Invalidation reaches this version and the one before: during a rolling deploy (or a rollback)
# the workers of both releases read, and each must see the other's writes.
INVALIDATED_VERSIONS = (VERSION, VERSION - 1)


GENERATION_SEPARATOR = ":g"  # list keys end in ``:g<generation>`` (appended by the READ script)


def in_generation(key: CacheKey, generation: int | str) -> str:
    """The physical key of list ``key`` in ``generation``."""
    return f"{physical(key)}{GENERATION_SEPARATOR}{generation}"


def stats() -> str:
    """The hash of per-namespace counters (fields from ``stats_field``)."""
    return f"{_base()}_stats"


HISTORY_SECONDS = 3900  # an hour of per-minute buckets, and a little more


def history_prefix() -> str:
    """Per-minute buckets of the counters: ``<prefix>_hist:<unix minute>`` (the READ script
    appends the minute)."""
    return f"{_base()}_hist:"


def history(minute: int) -> str:
    return f"{history_prefix()}{minute}"


def stats_field(namespace: str, counter: str) -> str:
    """``<namespace>:hits``, ``:misses`` or ``:loads`` in the ``stats()`` hash."""
    return f"{namespace}:{counter}"


def glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def prefix_pattern(*, all_versions: bool = False) -> str:
    """SCAN pattern matching every key of this deployment's prefix (in this key version, or
    in every version)."""
    return glob_escape(f"{options().key_prefix}:" if all_versions else _base()) + "*"


def namespace_of(physical_key: str) -> str:
    """The namespace segment of a physical key (bookkeeping keys give ``_gen``, ``_stats``)."""
    return physical_key[len(_base()):].partition(":")[0]


def namespace_pattern(namespace: str) -> str:
    """SCAN pattern matching every key of ``namespace``, and nothing else."""
    if not NAMESPACE_NAME.fullmatch(namespace):
        raise ValueError(f"not a namespace name: {namespace!r}")
    return glob_escape(_base()) + namespace + ":*"
