"""What a cache entry holds (rendered JSON parts, the metadata that serves them without the
database, an ETag per part: docs/reads.md, "Entries"), and what a read returns (``Result``)."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A read's X-Cache: from the cache, loaded, past its TTL as the database failed, cache unused.
HIT, MISS, STALE, BYPASS = "HIT", "MISS", "STALE", "BYPASS"


def etag(*chunks: bytes) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for chunk in chunks:
        digest.update(chunk)
    return f'"{digest.hexdigest()}"'


@dataclass(frozen=True, slots=True)
class Entry:
    """``empty``: the loader found nothing for a key the client chose (a filter that matches
    nothing); stored for ``EMPTY_TTL`` only, and not part of the stored form. ``fresh_until``
    (ms since the epoch) and ``load_ms``: the stamp Redis keeps with it (``stored``), 0 on an
    entry just loaded."""

    parts: tuple[bytes, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    etags: tuple[str, ...] = ()
    empty: bool = False
    fresh_until: int = 0
    load_ms: int = 0

    def __post_init__(self) -> None:
        if not self.etags:  # a fresh entry: each part's ETag covers the metadata and that part
            meta = json.dumps(self.meta, separators=(",", ":")).encode()
            object.__setattr__(self, "etags", tuple(etag(meta, part) for part in self.parts))

    def encode(self) -> bytes:
        """The stored form."""
        head = json.dumps(
            {"m": self.meta, "l": [len(p) for p in self.parts], "e": self.etags},
            separators=(",", ":"),
        )
        return head.encode() + b"\n" + b"".join(self.parts)

    @classmethod
    def decode(cls, raw: bytes, fresh_until: int = 0, load_ms: int = 0) -> "Entry":
        head, _, body = raw.partition(b"\n")
        info = json.loads(head)
        parts, at = [], 0
        for length in info["l"]:
            parts.append(body[at : at + length])
            at += length
        return cls(
            tuple(parts), info["m"], tuple(info["e"]), fresh_until=fresh_until, load_ms=load_ms
        )

    @classmethod
    def stored(cls, raw: bytes) -> "Entry":
        """The entry as Redis keeps it: stamped ``<fresh until> <load ms>\\n`` by the STORE
        script, then the stored form."""
        stamp, _, rest = raw.partition(b"\n")
        fresh_until, load_ms = stamp.split()
        return cls.decode(rest, int(fresh_until), int(load_ms))


@dataclass(frozen=True, slots=True)
class Result:
    """A read's entry (``None``: the loader found nothing), how it was served, and for a
    ``STALE`` one its age in seconds (since it was stored)."""

    value: Entry | None
    status: str
    age: int = 0


Loader = Callable[[], Entry | None]  # a selector: the entry from the database, or None
