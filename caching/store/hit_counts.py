"""Hits served from this process's near cache, summed here and added to the shared counters
(the READ script's ``_stats`` and ``_hist`` keys) by the near tier's thread every 200 ms
(``caching.store.near_reads``), so every read shows in the stats API, ``cache_stats`` and the
dashboard within a second (SPEC 8.7).

A flush that fails keeps the sums for the next one. ``flush()`` is also called by this
process's own stats reads; ``discard()`` by a counter reset.
"""

import threading
from typing import Any

from caching import keys
from caching.backend.cluster import pipelined
from caching.backend.connection import Client
from caching.backend.policy import CacheUnavailable, call
from caching.backend.scripts import SHAS
from caching.keys import CacheKey

FLUSH_S = 0.2


class HitCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], int] = {}

    def add(self, key: CacheKey) -> None:
        shard = (key.namespace, key.shard)
        with self._lock:
            self._pending[shard] = self._pending.get(shard, 0) + 1

    def flush(self) -> None:
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return
        sha = SHAS["HITS"]

        def queue(pipe: Any) -> None:
            for (namespace, shard), hits in taken.items():
                history = keys.history_prefix(namespace, shard)
                pipe.execute_command(
                    "EVALSHA", sha, 1, keys.stats(namespace, shard), hits, history,
                    keys.HISTORY_SECONDS,
                )  # fmt: skip

        def run(r: Client) -> None:
            pipelined(r, queue)

        try:
            call(run)
        except BaseException as error:
            with self._lock:  # counted at the next flush
                for shard, hits in taken.items():
                    self._pending[shard] = self._pending.get(shard, 0) + hits
            if not isinstance(error, CacheUnavailable):
                raise

    def discard(self) -> None:
        with self._lock:
            self._pending.clear()
