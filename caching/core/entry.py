"""What a cache entry holds (rendered JSON parts, the metadata that serves them without the
database, an ETag per part: docs/reads.md, "Entries"), and what a read returns (``Result``)."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HIT, MISS, BYPASS = "HIT", "MISS", "BYPASS"  # a read's X-Cache: from Redis, loaded, cache unused


def etag(*chunks: bytes) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for chunk in chunks:
        digest.update(chunk)
    return f'"{digest.hexdigest()}"'


@dataclass(frozen=True, slots=True)
class Entry:
    """``empty``: the loader found nothing for a key the client chose (a filter that matches
    nothing); stored for ``EMPTY_TTL`` only, and not part of the stored form."""

    parts: tuple[bytes, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    etags: tuple[str, ...] = ()
    empty: bool = False

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
    def decode(cls, raw: bytes) -> "Entry":
        head, _, body = raw.partition(b"\n")
        info = json.loads(head)
        parts, at = [], 0
        for length in info["l"]:
            parts.append(body[at : at + length])
            at += length
        return cls(tuple(parts), info["m"], tuple(info["e"]))


@dataclass(frozen=True, slots=True)
class Result:
    """A read's entry (``None``: the loader found nothing) and how it was served."""

    value: Entry | None
    status: str


Loader = Callable[[], Entry | None]  # a selector: the entry from the database, or None
