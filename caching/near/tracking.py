"""Server-assisted invalidation (Redis client tracking) for the near cache, and the heartbeat that
proves Redis takes writes: one RESP3 socket to one primary, read without blocking (``drain``). Its
rules, and why not redis-py's reader: docs/near-cache.md, "How Redis tells it", "The heartbeat"."""

import itertools
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STALE_S = 0.2  # at most: a heartbeat older than this is not trusted (rule 1)
LOST_S = 2.0  # a heartbeat unanswered this long: the connection is dead (a black hole)
_CHUNK = 65536
# (level, option, value) set on every tracking socket before it connects: a test's hook (a small
# receive buffer) that leaves the host's settings alone.
SOCKET_OPTIONS: list[tuple[int, int, int]] = []
_GENERATIONS = itertools.count(1)  # a tracker's generation: unique in the process


class TrackingLostError(Exception):
    """A tracking connection closed or failed."""


def command(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _IncompleteError(Exception):
    pass


def parse(buffer: bytes, at: int = 0) -> tuple[Any, int]:
    """One RESP3 value from ``buffer`` at ``at``: ``(value, next position)``; raises
    ``_IncompleteError`` when the buffer ends first. Pushes come back as ``("push", [items])``."""
    end = buffer.find(b"\r\n", at)
    if end < 0:
        raise _IncompleteError
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
            raise _IncompleteError
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

    def where(self) -> str:
        return self.path or f"{self.host}:{self.port}"


@dataclass
class _Link:
    node: Node
    sock: socket.socket
    run_id: str
    buffer: bytes = b""
    pinged_at: float = -1.0  # when the latest heartbeat was sent
    sent: deque[float] = field(default_factory=deque)  # send times of heartbeats not answered
    confirmed_at: float = -1.0  # send time of the latest answered heartbeat
    taken_at: float = -1.0  # when Redis took it (TIME, Redis's clock)
    backlog_at: float = -1.0  # when a drain last read a push (Redis may hold more behind it)


class Tracker:
    """A tracking connection to the primary ``node`` for keys starting with any of ``prefixes``;
    the heartbeat writes to ``heartbeat_key``, which must not exist (on a cluster: in a slot the
    node serves). ``generation`` names what it vouches for: a near entry filled through it is
    served only while it is the same (a lapse gives it a new one)."""

    def __init__(
        self,
        node: Node,
        prefixes: list[str],
        on_invalidate: Callable[[list[bytes] | None], None],
        on_lapse: Callable[[], None],
        *,
        heartbeat_key: str,
        timeout_s: float,
    ) -> None:
        self._on_invalidate = on_invalidate
        self._on_lapse = on_lapse
        self._lock = threading.Lock()
        self.stale_s = min(STALE_S, 0.8 * timeout_s)
        self._beat_s = self.stale_s / 2
        self._beat = command("PEXPIRE", heartbeat_key, 1) + command("TIME")
        # CLIENT LIST shows which process a tracking connection belongs to.
        self.name = f"near-cache-tracking-{os.getpid()}-{secrets.token_hex(4)}"
        self.link = self._connect(node, prefixes, timeout_s)
        self.generation = next(_GENERATIONS)
        self.trusted = False  # what the latest drain said
        self.broken = False

    def _connect(self, node: Node, prefixes: list[str], timeout_s: float) -> _Link:
        sock = _open(node, timeout_s)
        try:
            login: list[str | bytes | int] = ["HELLO", 3]
            if node.password:
                login += ["AUTH", node.username or "default", node.password]
            tracking: list[str | bytes | int] = ["CLIENT", "TRACKING", "ON", "BCAST"]
            for prefix in prefixes:
                tracking += ["PREFIX", prefix]
            began = time.monotonic()
            sock.sendall(
                command(*login)
                + command("CLIENT", "SETNAME", self.name)
                + command(*tracking)
                + command("INFO", "server")
                + self._beat
            )
            replies, buffer = self._replies(sock, 6)
            hello, _, _, info, _, _ = replies
            if isinstance(hello, ValueError):
                raise TrackingLostError(f"refused: {hello}")
            if dict(zip(hello[::2], hello[1::2], strict=True)).get(b"role") != b"master":
                raise TrackingLostError(f"{node.where()} is not a primary")
            for reply in replies:
                if isinstance(reply, ValueError) and reply is not info:
                    raise TrackingLostError(f"refused: {reply}")
            # A server that refuses INFO (an ACL) leaves its identity unknown: not checked.
            run_id = "" if isinstance(info, ValueError) else _field(info, b"run_id")
            sock.setblocking(False)
            link = _Link(node, sock, run_id, buffer, pinged_at=began)
            link.confirmed_at, link.taken_at = began, _seconds(replies[5])
            return link
        except BaseException:
            sock.close()
            raise

    @staticmethod
    def _replies(sock: socket.socket, count: int) -> tuple[list[Any], bytes]:
        """The first ``count`` replies on a blocking socket, and what follows them."""
        replies: list[Any] = []
        buffer = b""
        while len(replies) < count:
            chunk = sock.recv(_CHUNK)
            if not chunk:
                raise TrackingLostError("closed while setting up")
            buffer += chunk
            try:
                while len(replies) < count:
                    reply, used = parse(buffer)
                    buffer = buffer[used:]
                    replies.append(reply)
            except _IncompleteError:
                pass
        return replies, buffer

    def drain(self) -> bool:
        """Consume what Redis sent, send a heartbeat when due; whether a near hit may be served
        (also kept in ``trusted``). Raises ``TrackingLostError`` (and stays broken): the
        connection lost, a heartbeat refused."""
        with self._lock:
            self.trusted = False
            if self.broken:
                raise TrackingLostError("tracking was lost")
            now = time.monotonic()
            link = self.link
            try:
                self._read(link, now)
                if link.sent and now - link.sent[0] > LOST_S:
                    raise TrackingLostError(f"{link.node.where()} does not answer")
                if now - link.pinged_at >= self._beat_s or link.backlog_at == now:
                    if link.sock.send(self._beat) != len(self._beat):
                        raise TrackingLostError("a heartbeat could not be sent whole")
                    link.pinged_at = now
                    link.sent.append(now)
            except Exception as error:  # closed, reset, refused, unparsable: never trusted again
                self.broken = True
                raise TrackingLostError(str(error)) from error
            self.trusted = link.confirmed_at >= max(now - self.stale_s, link.backlog_at)
            return self.trusted

    def _read(self, link: _Link, now: float) -> None:
        chunks = []
        while True:  # to EAGAIN or the end: a close may wait behind data
            try:
                chunk = link.sock.recv(_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                raise TrackingLostError(f"{link.node.where()} closed the connection")
            chunks.append(chunk)
        if not chunks:
            return
        link.buffer += b"".join(chunks)
        at = 0
        try:
            while at < len(link.buffer):
                value, at = parse(link.buffer, at)
                if isinstance(value, tuple):  # a push
                    link.backlog_at = now
                    kind, items = value[1][0], value[1][1:]
                    if kind == b"invalidate":
                        self._on_invalidate(items[0] if items else None)
                elif isinstance(value, ValueError):
                    raise TrackingLostError(f"{link.node.where()} refused the heartbeat: {value}")
                elif isinstance(value, list) and link.sent:  # TIME, after the PEXPIRE's :0
                    taken = _seconds(value)
                    if taken - link.taken_at > self.stale_s:
                        self.generation = next(_GENERATIONS)  # before the owner hears of it
                        self._on_lapse()
                    link.confirmed_at, link.taken_at = link.sent.popleft(), taken
        except _IncompleteError:
            link.backlog_at = now  # the rest of it is still on its way
        link.buffer = link.buffer[at:]

    def close(self) -> None:
        with self._lock:
            self.detach()

    def detach(self) -> None:
        """Close without the lock, which in a forked child a parent's thread may hold forever (the
        child closes its own copies of the sockets; the parent's stay open)."""
        self.broken = True
        self.trusted = False
        self.link.sock.close()


def _open(node: Node, timeout_s: float) -> socket.socket:
    """A connected socket to ``node``, ``SOCKET_OPTIONS`` set before it connects; each address
    a host name resolves to is tried in turn."""
    targets: list[tuple[int, int, int, Any]] = [(socket.AF_UNIX, socket.SOCK_STREAM, 0, node.path)]
    if not node.path:
        found = socket.getaddrinfo(node.host, node.port, type=socket.SOCK_STREAM)
        targets = [(family, kind, proto, address) for family, kind, proto, _, address in found]
    failure: OSError = OSError(f"{node.where()} resolves to no address")
    for family, kind, proto, address in targets:
        sock = socket.socket(family, kind, proto)
        try:
            for option in SOCKET_OPTIONS:
                sock.setsockopt(*option)
            sock.settimeout(timeout_s)
            sock.connect(address)
            if family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure


def _seconds(time_reply: list[bytes]) -> float:
    """``TIME``'s reply (seconds, microseconds) as seconds."""
    return int(time_reply[0]) + int(time_reply[1]) / 1e6


def _field(info: bytes, name: bytes) -> str:
    """A field of an ``INFO`` reply (a verbatim string: ``txt:`` and ``name:value`` lines)."""
    for line in info.splitlines():
        if line.startswith(name + b":"):
            return line.partition(b":")[2].decode()
    raise TrackingLostError(f"INFO has no {name.decode()}")
