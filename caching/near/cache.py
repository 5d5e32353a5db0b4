"""The near cache: entries held in this process, bounded (entries, bytes, TTL), least recently
used first out, dropped when Redis says a key or its list's counter changed, kept only through a
reservation, and served only through the tracker it was filled through (its ``source``, a
``Tracker.generation``; docs/near-cache.md, "What a process holds", "A value on its way")."""

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from caching.core import keys
from caching.core.entry import Entry

ITEM_OVERHEAD = 200  # bytes a held entry costs beyond its stored form (objects, dict slots)


@dataclass(slots=True)
class _Item:
    entry: Entry
    size: int
    expires: float
    counter: str | None  # the generation counter of a list entry
    epoch: int
    source: int  # the generation of the tracker it was filled through


class NearCache:
    """Thread-safe; every method takes the lock for a few dictionary operations only."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self._reserved: dict[str, int] = {}
        self._epochs: dict[str, int] = {}
        self._tokens = itertools.count(1)
        self.bytes = 0
        self.hits = 0  # served from this process (tests and operators read it)

    def get(self, key: str, counter: str | None, source: int) -> Entry | None:
        """The entry held for ``key``, if it was filled through ``source``; dropped if not."""
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if (
                item.expires <= now
                or item.source != source
                or (counter is not None and self._epochs.get(counter, 0) != item.epoch)
            ):
                self._drop(key)
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item.entry

    def reserve(self, key: str, counter: str | None) -> tuple[int, int]:
        """A reservation for ``key``: its token and the counter's epoch now."""
        with self._lock:
            token = next(self._tokens)
            self._reserved[key] = token
            return token, self._epochs.get(counter, 0) if counter is not None else 0

    def fill(
        self,
        key: str,
        reservation: tuple[int, int],
        entry: Entry,
        size: int,
        ttl: float,
        counter: str | None,
        source: int,
    ) -> bool:
        """Keep ``entry``, filled through ``source``, if the reservation survived (no
        invalidation consumed since)."""
        token, epoch = reservation
        size += ITEM_OVERHEAD
        with self._lock:
            if self._reserved.get(key) != token:
                return False
            del self._reserved[key]
            if counter is not None and self._epochs.get(counter, 0) != epoch:
                return False
            if size > self.max_bytes or ttl <= 0:
                return False
            self._drop(key)
            self._items[key] = _Item(entry, size, time.monotonic() + ttl, counter, epoch, source)
            self.bytes += size
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                self._drop(next(iter(self._items)))  # the least recently used
            return True

    def invalidate(self, names: Iterable[bytes]) -> None:
        """Redis says these keys changed: drop them, cancel their reservations, and advance the
        epoch of any generation counter among them."""
        with self._lock:
            for raw in names:
                name = keys.without_generation(raw.decode())
                if name.endswith("_gen"):
                    self._epochs[name] = self._epochs.get(name, 0) + 1
                self._reserved.pop(name, None)
                self._drop(name)

    def clear(self) -> None:
        """Forget everything, reservations included (every epoch moves on too)."""
        with self._lock:
            self._items.clear()
            self._reserved.clear()
            self.bytes = 0
            for counter in list(self._epochs):
                self._epochs[counter] += 1

    def retain(self, sources: set[int]) -> None:
        """Drop every entry filled through a source not in ``sources`` (a tracker lost, lapsed)."""
        with self._lock:
            for key in [key for key, item in self._items.items() if item.source not in sources]:
                self._drop(key)

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= item.size
