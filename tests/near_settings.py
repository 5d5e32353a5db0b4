"""Settings of the servers in ``tests/test_near_faults.py``: production settings, with no
outbox check by the clock (only a reason to doubt the cache starts one, so a test sees what the
near cache's own proof is worth) and, with ``TEST_TRACKING_RCVBUF`` set, a receive buffer of
that many bytes on the tracking sockets (the hook ``caching.backend.tracking.SOCKET_OPTIONS``;
the host's buffers are not touched)."""

import os
import socket

from caching.backend import tracking
from config.settings import *  # noqa: F403
from config.settings import CACHE_LAYER

CACHE_LAYER = {**CACHE_LAYER, "OUTBOX_CHECK_AFTER_MS": 600_000}

if os.environ.get("TEST_TRACKING_RCVBUF"):
    tracking.SOCKET_OPTIONS.append(
        (socket.SOL_SOCKET, socket.SO_RCVBUF, int(os.environ["TEST_TRACKING_RCVBUF"]))
    )
