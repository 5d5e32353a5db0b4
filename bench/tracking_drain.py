"""Why the near cache's tracking connection keeps its own RESP3 reader (docs/near-cache.md):
redis-py's connection, asked to drain without waiting, blocks on a reply that is only partly
there.

    python bench/tracking_drain.py [--calls 20000]

Measures, against the Redis of REDIS_URL (a connection of its own, tracking a prefix nothing
uses): an idle drain of ``caching.near.tracking.Tracker`` and of redis-py's RESP3 connection
(``can_read(0)``, then ``read_response``); then both against a stand-in server that sends half a
push and waits: the hand-written drain returns at once (not trusted), redis-py's waits for the
socket timeout.
"""

import argparse
import select
import socket
import sys
import threading
import time
import timeit
from pathlib import Path
from urllib.parse import urlsplit

from redis.connection import Connection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from caching.near.tracking import Node, Tracker, TrackingLostError  # noqa: E402
from config.env import env_str  # noqa: E402

HALF_A_PUSH = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nab"
HELLO = b"%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"


def _stand_in(server: socket.socket, sent: threading.Event) -> None:
    """Answers the handshake (HELLO, then +OK or an empty INFO and TIME), sends half a push."""
    conn, _ = server.accept()
    with conn:
        conn.settimeout(0.3)
        try:
            while data := conn.recv(65536):
                for command in data.split(b"*")[1:]:
                    if b"HELLO" in command:
                        conn.sendall(HELLO)
                    elif b"INFO" in command:
                        conn.sendall(b"$12\r\nrun_id:stand\r\n")
                    elif b"TIME" in command:
                        conn.sendall(b"*2\r\n$1\r\n1\r\n$1\r\n0\r\n")
                    else:
                        conn.sendall(b"+OK\r\n")
        except TimeoutError:
            pass
        conn.sendall(HALF_A_PUSH)
        sent.set()
        time.sleep(3)


def _arrived(sock: socket.socket | None, sent: threading.Event) -> None:
    """Once the stand-in has sent half a push, until it is readable on this side."""
    assert sent.wait(5) and sock is not None
    assert select.select([sock], [], [], 5)[0], "half a push never arrived"


def _against_half_a_push(drain_with: str) -> float:
    server = socket.create_server(("127.0.0.1", 0))
    sent = threading.Event()
    threading.Thread(target=_stand_in, args=(server, sent), daemon=True).start()
    port = server.getsockname()[1]
    if drain_with == "redis-py":
        conn = Connection(host="127.0.0.1", port=port, protocol=3, socket_timeout=1.0)
        conn.connect()
        _arrived(conn._sock, sent)
        began = time.monotonic()
        try:
            while conn.can_read(timeout=0):
                conn.read_response(push_request=True)
        except Exception:  # the timeout: the connection is dropped too
            pass
        return time.monotonic() - began
    tracker = Tracker(
        Node("127.0.0.1", port), ["x:"], lambda _: None, lambda: None,
        heartbeat_key="x", timeout_s=1.0,
    )  # fmt: skip
    _arrived(tracker.link.sock, sent)
    began = time.monotonic()
    try:
        tracker.drain()
    except TrackingLostError:
        pass
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    calls = parser.parse_args().calls
    url = urlsplit(env_str("REDIS_URL", "redis://127.0.0.1:6379/0"))
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    tracker = Tracker(
        Node(host, port), ["bench-nobody:"], lambda _: None, lambda: None,
        heartbeat_key="bench-nobody-heartbeat", timeout_s=1.0,
    )  # fmt: skip
    ours = timeit.timeit(tracker.drain, number=calls) / calls
    conn = Connection(host=host, port=port, protocol=3, socket_timeout=1.0)
    conn.connect()
    conn.send_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "bench-nobody:")
    conn.read_response()

    def library() -> None:
        while conn.can_read(timeout=0):
            conn.read_response(push_request=True)

    theirs = timeit.timeit(library, number=calls) / calls
    print(f"idle drain: hand-written {ours * 1e6:.1f} us (heartbeat included), "
          f"redis-py {theirs * 1e6:.1f} us (no heartbeat)")  # fmt: skip
    print(f"half a push waiting: hand-written {_against_half_a_push('ours') * 1000:.0f} ms, "
          f"redis-py {_against_half_a_push('redis-py') * 1000:.0f} ms")  # fmt: skip
    tracker.close()
    conn.disconnect()


if __name__ == "__main__":
    main()
