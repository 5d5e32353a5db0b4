"""``tests/near_settings.py`` with a 4 KiB receive buffer on every tracking socket, through the
hook ``caching.near.tracking.SOCKET_OPTIONS``: the host's buffers are left alone."""

import socket

from caching.near import tracking
from tests.near_settings import *  # noqa: F403

tracking.SOCKET_OPTIONS.append((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096))
