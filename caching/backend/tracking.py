"""Server-assisted invalidation (Redis client tracking) for the near cache.

One connection per primary, in RESP3 (``HELLO 3``), with ``CLIENT TRACKING ON BCAST`` over the
key prefixes of cached data: Redis pushes ``invalidate <keys>`` to it whenever any client
changes such a key (SET, UNLINK, a script's writes, a BUMP of a generation counter), when a key
expires or is evicted, and ``invalidate null`` on FLUSHDB/FLUSHALL. Broadcast mode needs no
per-key tracking table in Redis, so keys read by scripts and pipelines are covered alike, and
the counters a read increments (``_stats``, ``_hist``) are outside the prefixes: reads cause no
pushes.

``drain()`` reads what has arrived without blocking (one ``recv`` per connection that ends in
``EAGAIN``: a local system call, not a round trip) and hands each push to ``on_invalidate``.
The connection also carries a heartbeat: a ``PING`` at most every quarter of ``stale_s``, sent
by the next drain. Replies come in order after every push sent before them, so a ``PONG`` to a
PING sent at time *t* proves Redis was answering, and had sent everything up to then, after
*t*. ``drain()`` raises ``Unconfirmed`` while the latest answered PING was sent more than
``stale_s`` ago (the caller reads from Redis instead). ``stale_s`` is kept below the Redis
socket timeout: a write whose invalidation timed out took longer than that to return, so by
then no process still trusts a tracker that had not heard from Redis since before the outage.
A connection that closes or errs makes the tracker unusable until it is rebuilt
(``caching.store.near_reads``), and the near cache is emptied then.
"""

import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STALE_S = 0.2  # at most: a heartbeat older than this is not trusted (see above)
LOST_S = 2.0  # a PING unanswered this long: the connection is dead (a black hole), reconnect
_CHUNK = 65536
_PING = b"*1\r\n$4\r\nPING\r\n"


class TrackingLost(Exception):
    """A tracking connection closed or failed."""


class Unconfirmed(Exception):
    """No heartbeat answered recently enough: do not serve from the near cache now."""


def command(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Incomplete(Exception):
    pass


def parse(buffer: bytes, at: int = 0) -> tuple[Any, int]:
    """One RESP3 value from ``buffer`` at ``at``: ``(value, next position)``; raises
    ``_Incomplete`` when the buffer ends first. Pushes come back as ``("push", [items])``."""
    end = buffer.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line, at = buffer[at : at + 1], buffer[at + 1 : end], end + 2
    if kind in (b"+", b"("):
        return line, at
    if kind == b"-":
        return ValueError(line.decode(errors="replace")), at
    if kind in (b":", b","):
        return int(line) if kind == b":" else float(line), at
    if kind == b"_":
        return None, at
    if kind == b"#":
        return line == b"t", at
    if kind in (b"$", b"=", b"!"):
        size = int(line)
        if size < 0:
            return None, at
        if len(buffer) < at + size + 2:
            raise _Incomplete
        return buffer[at : at + size], at + size + 2
    if kind in (b"*", b">", b"~", b"%", b"|"):
        count = int(line)
        if count < 0:
            return None, at
        count *= 2 if kind in (b"%", b"|") else 1
        items = []
        for _ in range(count):
            item, at = parse(buffer, at)
            items.append(item)
        if kind == b"|":  # attributes precede the value they describe
            return parse(buffer, at)
        return (("push", items) if kind == b">" else items), at
    raise ValueError(f"not RESP3: {buffer[at - len(line) - 3 : at]!r}")


@dataclass
class Node:
    """Where a primary listens, and how to log in."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    path: str | None = None  # a unix socket instead of host and port


@dataclass
class _Link:
    node: Node
    sock: socket.socket
    buffer: bytes = b""
    pinged_at: float = -1.0  # when the latest PING was sent
    sent: deque[float] = field(default_factory=deque)  # send times of PINGs not yet answered
    confirmed_at: float = -1.0  # send time of the latest answered PING
    backlog_at: float = -1.0  # when a drain last found a full buffer (Redis may hold more)


class Tracker:
    """Tracking connections to ``nodes`` for keys starting with any of ``prefixes``."""

    def __init__(
        self,
        nodes: list[Node],
        prefixes: list[str],
        on_invalidate: Callable[[list[bytes] | None], None],
        *,
        timeout_s: float,
    ) -> None:
        self._on_invalidate = on_invalidate
        self._lock = threading.Lock()
        self.stale_s = min(STALE_S, 0.8 * timeout_s)
        self._ping_s = self.stale_s / 4
        # CLIENT LIST shows which process a tracking connection belongs to.
        self.name = f"near-cache-tracking-{os.getpid()}-{secrets.token_hex(4)}"
        self.links: list[_Link] = []
        try:
            for node in nodes:
                self.links.append(self._connect(node, prefixes, timeout_s, self.name))
        except BaseException:
            for link in self.links:
                link.sock.close()
            raise
        self.broken = False

    @staticmethod
    def _connect(node: Node, prefixes: list[str], timeout_s: float, name: str) -> _Link:
        if node.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            sock.connect(node.path)
        else:
            sock = socket.create_connection((node.host, node.port), timeout=timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            hello: list[str | bytes | int] = ["HELLO", 3]
            if node.password:
                hello += ["AUTH", node.username or "default", node.password]
            tracking: list[str | bytes | int] = ["CLIENT", "TRACKING", "ON", "BCAST"]
            for prefix in prefixes:
                tracking += ["PREFIX", prefix]
            sock.sendall(command(*hello) + command("CLIENT", "SETNAME", name) + command(*tracking))
            replies: list[Any] = []
            buffer = b""
            while len(replies) < 3:
                chunk = sock.recv(65536)
                if not chunk:
                    raise TrackingLost("closed while setting up")
                buffer += chunk
                try:
                    while len(replies) < 3:
                        reply, used = parse(buffer)
                        buffer = buffer[used:]
                        replies.append(reply)
                except _Incomplete:
                    pass
            for reply in replies:
                if isinstance(reply, ValueError):
                    raise TrackingLost(f"refused: {reply}")
            sock.setblocking(False)
            return _Link(node, sock, buffer)
        except BaseException:
            sock.close()
            raise

    def drain(self) -> None:
        """Consume everything Redis has sent; send a heartbeat when one is due. Raises
        ``TrackingLost`` (and stays broken) when a connection is gone, ``Unconfirmed`` when a
        connection's latest answered heartbeat is too old."""
        with self._lock:
            if self.broken:
                raise TrackingLost("tracking was lost")
            now = time.monotonic()
            quiet = False
            try:
                for link in self.links:
                    self._read(link, now)
                    if link.sent and now - link.sent[0] > LOST_S:
                        raise TrackingLost(f"{link.node.host}:{link.node.port} does not answer")
                    if now - link.pinged_at >= self._ping_s or link.backlog_at == now:
                        if link.sock.send(_PING) != len(_PING):
                            raise TrackingLost("a heartbeat could not be sent whole")
                        link.pinged_at = now
                        link.sent.append(now)
                    # Trusted: a heartbeat answered that was sent recently, and after the last
                    # time Redis may have held pushes back (a full buffer read).
                    quiet = quiet or (
                        now - link.confirmed_at > self.stale_s
                        or link.confirmed_at < link.backlog_at
                    )
            except Exception as error:  # closed, reset, unparsable: never trusted again
                self.broken = True
                raise TrackingLost(str(error)) from error
            if quiet:
                raise Unconfirmed("no recent heartbeat")

    def _read(self, link: _Link, now: float) -> None:
        while True:
            try:
                chunk = link.sock.recv(_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                raise TrackingLost(f"{link.node.host}:{link.node.port} closed the connection")
            link.buffer += chunk
            if len(chunk) == _CHUNK:
                # A burst: Redis writes a client at most 64 KiB per pass and stops when our
                # buffer is full, so pushes may still wait there, behind replies it already
                # sent to writers. Trust again only after a heartbeat sent from now.
                link.backlog_at = now
            else:
                break  # the buffer is read to its end: no EAGAIN round needed
        at = 0
        try:
            while at < len(link.buffer):
                value, at = parse(link.buffer, at)
                if isinstance(value, tuple):  # a push
                    kind, items = value[1][0], value[1][1:]
                    if kind == b"invalidate":
                        self._on_invalidate(items[0] if items else None)
                elif value == b"PONG" and link.sent:
                    link.confirmed_at = link.sent.popleft()
                elif isinstance(value, ValueError):
                    raise TrackingLost(f"error from Redis: {value}")
        except _Incomplete:
            pass
        link.buffer = link.buffer[at:]

    def close(self) -> None:
        with self._lock:
            self.broken = True
            for link in self.links:
                link.sock.close()

    def detach(self) -> None:
        """In a forked child: the parent's sockets are not this process's to use or close."""
        self.broken = True
