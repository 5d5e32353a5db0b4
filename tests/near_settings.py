"""Settings of the servers in ``tests/test_near_faults.py``: production settings, with no outbox
check by the clock: only a reason to doubt the cache starts one, so a test sees what the near
cache's own proof is worth."""

from config.settings import *  # noqa: F403
from config.settings import CACHE_LAYER

CACHE_LAYER = {**CACHE_LAYER, "OUTBOX_CHECK_AFTER_MS": 600_000}
