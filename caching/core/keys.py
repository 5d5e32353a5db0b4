"""Every cache key string is built here, and nowhere else. The scheme (logical and physical
keys, hash tags and shards, versions, request values in keys) is docs/keys.md."""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from caching.core.options import options

VERSION = 5  # bump it with the entry format or the key layout (docs/keys.md, "Versions")
INVALIDATED_VERSIONS = (VERSION, VERSION - 1)  # for rolling deploys (docs/keys.md, "Versions")
SPREAD_SINCE = 4  # the first version whose secret keys (``<namespace>:~<hash>``) use every shard
SHARDS = 64  # hash tags per detail namespace; changing it moves keys, so it needs a VERSION bump
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAMESPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Build with ``detail``, ``page`` or ``restore``: they give the key its shard."""

    namespace: str
    logical: str
    shard: int

    def __str__(self) -> str:
        return self.logical


def segment(value: object) -> str:
    """A key segment for ``value``: itself when safe, else ``~`` and a hash of it."""
    text = str(value)
    if _SAFE_SEGMENT.fullmatch(text):
        return text
    return "~" + hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def detail_key(namespace: str, pk: int) -> CacheKey:
    """``<namespace>:<pk>``, e.g. ``post:12``, in shard ``pk mod SHARDS``."""
    return restore(namespace, f"{namespace}:{int(pk)}")


def page_key(namespace: str, number: int, filters: Mapping[str, object] | None = None) -> CacheKey:
    """``<namespace>[:<filter>:<value>...]:page:<n>``, filters in alphabetical (canonical) order."""
    parts = [namespace]
    for name, value in sorted((filters or {}).items()):
        if value is not None:
            parts += [segment(name), segment(value)]
    parts += ["page", str(int(number))]
    return restore(namespace, ":".join(parts))


def secret_key(namespace: str, value: str) -> CacheKey:
    """``<namespace>:~<hash of value>``: for a value that must not appear in Redis (a token)."""
    digest = hashlib.blake2b(value.encode(), digest_size=16).hexdigest()
    return restore(namespace, f"{namespace}:~{digest}")


_SECRET = re.compile(r"~[0-9a-f]{32}")


def restore(namespace: str, logical: str) -> CacheKey:
    """The key named ``logical`` (also: as kept in the outbox) with its shard, the one place
    that decides it: ``<namespace>:<id>`` is in shard ``id mod SHARDS``, a secret key
    ``<namespace>:~<hash>`` in ``hash mod SHARDS``, anything else in 0."""
    rest = logical[len(namespace) + 1 :]
    if rest.isascii() and rest.isdigit():
        shard = int(rest) % SHARDS
    elif _SECRET.fullmatch(rest):
        shard = int(rest[1:], 16) % SHARDS
    else:
        shard = 0
    return CacheKey(namespace, logical, shard)


def shards(generational: bool) -> range:
    """The shards a namespace's keys use: one for a generational (list) namespace."""
    return range(1) if generational else range(SHARDS)


def _base(version: int = VERSION) -> str:
    return f"{options().key_prefix}:{version}:"


def tag(namespace: str, shard: int = 0, version: int = VERSION) -> str:
    """``<prefix>:<version>:{<namespace>.<shard>}:``: the start of every key in that slot."""
    return f"{_base(version)}{{{namespace}.{int(shard)}}}:"


def physical(key: CacheKey, version: int = VERSION) -> str:
    """The Redis key of ``key`` (without the generation suffix of list namespaces) in
    ``version``: this one, or the previous one (3), which a rolling deploy still invalidates."""
    if version < SPREAD_SINCE and _SECRET.fullmatch(key.logical[len(key.namespace) + 1 :]):
        return tag(key.namespace, 0, version) + key.logical
    return tag(key.namespace, key.shard, version) + key.logical


def generation(namespace: str, version: int = VERSION) -> str:
    """The counter whose value suffixes every key of a generational namespace."""
    return tag(namespace, 0, version) + "_gen"


GENERATION_SEPARATOR = ":g"  # list keys end in ``:g<generation>`` (appended by the READ script)
REFRESH_SUFFIX = ":refresh"  # a value key's refresh lease (docs/reads.md, "Early refresh")


def refresh_lease(name: str) -> str:
    """The key of the lease that reloads value key ``name`` (with its generation, for a list)
    while the value stays; in the value's slot. A detail's is unlinked with the value; a
    list's is left to expire, as its generation moved on and nobody reads its key."""
    return name + REFRESH_SUFFIX


def in_generation(key: CacheKey, generation: int | str) -> str:
    """The physical key of list ``key`` in ``generation``."""
    return f"{physical(key)}{GENERATION_SEPARATOR}{generation}"


def without_generation(name: str) -> str:
    """``in_generation`` undone; other keys (a ``_gen`` counter too) come back as given."""
    head, separator, tail = name.rpartition(GENERATION_SEPARATOR)
    return head if separator and tail.isascii() and tail.isdigit() else name


def stats(namespace: str, shard: int = 0) -> str:
    """The counters of one shard of a namespace: a hash of ``hits``, ``misses``, ``loads``."""
    return tag(namespace, shard) + "_stats"


def stats_of(key: CacheKey) -> str:
    return stats(key.namespace, key.shard)


HISTORY_SECONDS = 3 * 3600  # hourly buckets, each read for the hour after its last minute


def history_prefix(namespace: str, shard: int = 0) -> str:
    """Per-hour buckets of one shard's counters, ``<tag>_hist:<unix hour>``, with fields
    ``<unix minute>:hits|misses`` (the READ script appends the hour and names the field)."""
    return tag(namespace, shard) + "_hist:"


def history(namespace: str, shard: int, hour: int) -> str:
    return f"{history_prefix(namespace, shard)}{hour}"


def heartbeat(number: int = 0) -> str:
    """A key the near cache's heartbeat ``PEXPIRE``s: it never exists, and is not tracked (on a
    cluster each primary's tracker takes the first ``number`` whose slot it serves)."""
    return tag("_near", number) + "_heartbeat"


def rate(limit: str, ident: object) -> str:
    """The window counter of rate limit ``limit`` for ``ident`` (a user, an address), in a slot
    of its own: ``<tag _rate.<ident>>_rate:<limit>``; bookkeeping, outside every namespace."""
    return tag(f"_rate.{segment(ident)}") + f"_rate:{segment(limit)}"


def glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def prefix_pattern(*, all_versions: bool = False) -> str:
    """SCAN pattern of every key of this deployment's prefix, in this key version or in all."""
    return glob_escape(f"{options().key_prefix}:" if all_versions else _base()) + "*"


def namespace_of(physical_key: str) -> str:
    """A physical data key's namespace (bookkeeping keys give ``_gen``, ``_stats``, ``_hist``)."""
    rest = physical_key[len(_base()) :]
    if rest.startswith("{"):
        rest = rest.partition("}:")[2]
    return rest.partition(":")[0]


def namespace_pattern(namespace: str) -> str:
    """SCAN pattern matching every data key of ``namespace`` (in every shard), and nothing else."""
    if not NAMESPACE_NAME.fullmatch(namespace):
        raise ValueError(f"not a namespace name: {namespace!r}")
    return f"{glob_escape(_base())}{{{namespace}.*}}:{namespace}:*"
