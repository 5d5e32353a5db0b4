"""The tracking connection and its heartbeat (``caching.near.tracking``), one fault at a time,
on a private redis-server: each test builds a tracker of its own (the near tier's thread would
drain the tier's), makes the fault for real and checks what ``drain()`` says."""

import select
import socket

import pytest
import redis

from caching.near import tracking
from caching.near.tracking import Node, Tracker, TrackingLostError
from tests.live import free_port, wait_until

pytestmark = pytest.mark.usefixtures("private_redis")
PREFIX = "tracked:"


class Heard:
    """What a tracker told its owner."""

    def __init__(self) -> None:
        self.invalidated: list[list[bytes] | None] = []
        self.lapses = 0

    def invalidate(self, names: list[bytes] | None) -> None:
        self.invalidated.append(names)

    def lapse(self) -> None:
        self.lapses += 1


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def tracker(private_redis, heard):
    made = connect(private_redis, heard)
    yield made
    made.close()


def connect(server, heard: Heard) -> Tracker:
    return Tracker(
        Node("127.0.0.1", server.port),
        [PREFIX],
        heard.invalidate,
        heard.lapse,
        heartbeat_key="heartbeat",
        timeout_s=0.25,
    )


def trusted_soon(tracker: Tracker) -> None:
    wait_until(tracker.drain, message="the tracker trusts no heartbeat")


def kill(server, tracker: Tracker) -> None:
    """CLIENT KILL the tracker's connection; return once Redis has closed it."""
    r = server.client()
    r.execute_command("CLIENT", "KILL", "ID", tracker_id(server, tracker))
    wait_until(lambda: tracker_id(server, tracker) is None, message="the connection stays")


def tracker_id(server, tracker: Tracker) -> int | None:
    rows = [row for row in server.client().client_list() if row.get("name") == tracker.name]
    return rows[0]["id"] if rows else None


def drained_to_loss(tracker: Tracker) -> bool:
    """One drain, for ``wait_until`` to repeat until the drain raises ``TrackingLostError``."""
    tracker.drain()
    return False


def readable(tracker: Tracker) -> bool:
    return bool(select.select([tracker.link.sock], [], [], 0)[0])


def test_a_close_behind_a_waiting_reply_is_seen(private_redis, tracker):
    """A heartbeat's reply sits unread in the socket when Redis closes the connection: the drain
    reads on past it to the end of the stream."""

    def heartbeat_pending() -> bool:
        tracker.drain()
        return bool(tracker.link.sent)

    wait_until(heartbeat_pending, interval=0.01)
    wait_until(lambda: readable(tracker), message="the heartbeat was not answered")
    kill(private_redis, tracker)
    with pytest.raises(TrackingLostError, match="closed"):
        tracker.drain()
    with pytest.raises(TrackingLostError):  # and stays lost
        tracker.drain()


def test_a_push_is_trusted_only_after_a_heartbeat_sent_after_it(private_redis, tracker, heard):
    trusted_soon(tracker)
    private_redis.client().set(PREFIX + "1", "v")
    wait_until(lambda: readable(tracker))
    assert tracker.drain() is False  # the push is read; Redis may hold more behind it
    assert heard.invalidated == [[(PREFIX + "1").encode()]]
    trusted_soon(tracker)  # the heartbeat that drain sent is answered


def test_a_burst_behind_a_small_receive_buffer_is_not_trusted_until_read_whole(
    private_redis, heard, monkeypatch
):
    """The receive buffer holds a few KiB: a drain may read a part of a 150 KB push and end in
    EAGAIN while Redis keeps the rest. No drain is trusted until the push is read whole."""
    monkeypatch.setattr(tracking, "SOCKET_OPTIONS", [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    small = connect(private_redis, heard)
    try:
        trusted_soon(small)
        burst = [f"{PREFIX}burst:{n}" for n in range(3000)]
        private_redis.client().mset(dict.fromkeys(burst, "x"))
        wait_until(lambda: readable(small))
        assert small.link.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < 16384
        wait_until(small.drain, interval=0, message="the burst is never read whole")
        assert sorted(heard.invalidated[0]) == sorted(name.encode() for name in burst)
    finally:
        small.close()


def test_paused_writes_stop_trust_and_their_end_is_a_lapse(private_redis, tracker, heard):
    """``CLIENT PAUSE WRITE`` for longer than the window: PING is answered, the heartbeat (a
    write) is held. Trust ends; once the pause is over, Redis took two heartbeats further apart
    than the window: a lapse, whoever looked meanwhile."""
    trusted_soon(tracker)
    lapses = heard.lapses
    r = private_redis.client()
    pause_ms = 4 * int(tracker.stale_s * 1000)
    r.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
    try:
        assert r.ping()
        wait_until(lambda: not tracker.drain(), message="still trusted while writes are paused")
        assert heard.lapses == lapses  # no heartbeat taken: nothing to compare yet
        r.set("probe", "x")  # a write: it returns when the pause ends
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
    trusted_soon(tracker)
    assert heard.lapses == lapses + 1


def test_a_replica_refuses_the_heartbeat_and_is_not_tracked(private_redis, tracker, heard):
    trusted_soon(tracker)
    r = private_redis.client()
    r.execute_command("REPLICAOF", "127.0.0.1", free_port())
    try:
        with pytest.raises(TrackingLostError, match="READONLY"):
            wait_until(lambda: drained_to_loss(tracker), interval=0.01)  # raises when refused
        with pytest.raises(TrackingLostError, match="not a primary"):
            connect(private_redis, heard)
    finally:
        r.execute_command("REPLICAOF", "NO", "ONE")
    connect(private_redis, heard).close()


def test_a_full_redis_keeps_the_heartbeat(private_redis, tracker):
    """At ``maxmemory`` under ``noeviction`` Redis refuses SET, yet takes the heartbeat (a PEXPIRE
    of a missing key needs no memory): a full Redis keeps its near hits (SPEC 10.7)."""
    r = private_redis.client()
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", 1)
    try:
        with pytest.raises(redis.OutOfMemoryError):
            r.set("more", "x")
        before = tracker.link.taken_at
        wait_until(lambda: tracker.drain() and tracker.link.taken_at > before)
    finally:
        r.config_set("maxmemory", 0)
