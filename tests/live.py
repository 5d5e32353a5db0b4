"""Processes that tests and benchmarks start, and how they wait for them.

A server is a context manager that stops it on every way out, a failed start included: its
``start()`` stops what it launched before raising. Each runs in a session of its own, so that
stopping it reaches its children too (gunicorn's workers). Waits are for a condition, with a
generous deadline; a refused or slow answer on the way counts as "not yet".
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# A request in a test that measures no latency: long enough for any loaded machine, so that a
# slow answer is never mistaken for a failure (a hung server still fails the test).
HTTP_TIMEOUT = 30
# A server's start and a condition's wait: a loaded 2-core machine takes seconds where an idle
# one takes milliseconds.
WAIT_TIMEOUT = 60.0
# What a condition may raise while the thing it polls is starting, busy or recovering.
NOT_YET = (requests.ConnectionError, requests.Timeout, redis.ConnectionError, redis.TimeoutError)


def wait_until(
    condition,
    timeout: float = WAIT_TIMEOUT,
    interval: float = 0.01,
    message: str = "condition not met",
) -> None:
    """Poll ``condition`` until it returns true; fail after ``timeout`` seconds. A connection
    error or timeout inside it (requests, redis) is retried; any other exception ends the wait."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            if condition():
                return
        except NOT_YET as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{message} within {timeout:g} s" + (f"; last error: {last!r}" if last else "")
            )
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_given: set[int] = set()


def listening_port() -> int:
    """A free port for a server that binds it itself (granian, with ``SO_REUSEPORT``), below the
    kernel's ephemeral range, so that no client socket can be holding it, and never one this
    process has handed out before, so that two servers cannot share it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    start = 10_000 + (os.getpid() * 37) % (low - 10_000)
    for offset in range(low - 10_000):
        port = 10_000 + (start - 10_000 + offset) % (low - 10_000)
        if port in _given:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """Start ``args`` as the leader of a new session and process group (its children join it),
    with no standard input."""
    return subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)


def running(process: subprocess.Popen) -> bool:
    """Is ``process`` running? Unlike ``poll()``, this leaves an exited process unreaped: until
    ``stop_group()`` reaps it, its PID, which is its group's ID, cannot be given to another."""
    if process.returncode is not None:
        return False
    return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def stop_group(process: subprocess.Popen, grace: float = 15) -> None:
    """Stop ``process`` and every process of its group: SIGTERM, then SIGKILL after ``grace``
    seconds (a stopped group is continued first, or it would not act on SIGTERM). The group is
    killed even after its leader exited, so no child outlives it. Once is enough: a process
    stopped (reaped) already is left alone, as its PID may belong to another by now."""
    if process.returncode is not None:
        return
    try:
        if running(process):
            signal_group(process, signal.SIGCONT)
            signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while running(process) and time.monotonic() < deadline:
                time.sleep(0.05)
        signal_group(process, signal.SIGKILL)  # past the grace, or children that outlived it
    finally:
        process.wait()


def signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group that ``process`` leads, if any process is left in it."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # no process left in the group
        pass


class LiveServer:
    """The API against the test database and a key prefix, run as in production: no
    DJANGO_DEBUG unless ``env`` sets it, and a secret key of its own; one thread per worker and
    no recycling unless ``env`` says otherwise, so that a test controls which worker serves
    what. Ready when ``ready_path`` answers 200.

    ``server="production"`` (the default) is the README's start, ``python -m config.serve``
    (granian), on a port chosen by ``listening_port``. ``server="gunicorn"`` is gunicorn on a
    socket bound here (so no other process can take its port between choosing and binding it),
    started in ``cwd``: in the project's root gunicorn reads ``gunicorn.conf.py``, elsewhere it
    does not; ``extra_args`` are its command-line flags."""

    def __init__(
        self,
        *,
        prefix: str,
        workers: int = 2,
        env: dict | None = None,
        server: str = "production",
        extra_args: list[str] = (),
        cwd: Path = ROOT,
        ready_path: str = "/api/health/",
    ):
        assert server in ("production", "gunicorn"), server
        assert server == "gunicorn" or (not extra_args and cwd == ROOT), "gunicorn's options"
        db = connection.settings_dict
        inherited = {name: value for name, value in os.environ.items() if name != "DJANGO_DEBUG"}
        self.env = {
            **inherited,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CACHE_KEY_PREFIX": prefix,
            "DJANGO_SECRET_KEY": "live-server-" + secrets.token_urlsafe(32),
            "WEB_CONCURRENCY": str(workers),
            "WEB_THREADS": "1",
            "WEB_MAX_REQUESTS": "0",
            "WEB_MAX_REQUESTS_JITTER": "0",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        self.server = server
        self.extra_args = list(extra_args)
        self.cwd = cwd
        self.ready_path = ready_path
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.url = ""
        self.log: Path | None = None

    def start(self) -> "LiveServer":
        """Start the server and wait until it answers ``ready_path``; on any failure it is
        stopped before the error propagates."""
        if self.server == "production":
            self.port = listening_port()
            self._spawn([sys.executable, "-m", "config.serve"], WEB_BIND=f"127.0.0.1:{self.port}")
        else:
            self._spawn_gunicorn()
        try:
            wait_until(self._answers, interval=0.1, message=f"no answer on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, args: list[str], pass_fds: tuple[int, ...] = (), **env: str) -> None:
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ROOT / ".run" / f"server-{self.port}.log"
        self.log.parent.mkdir(exist_ok=True)
        with self.log.open("wb") as log:
            self.process = spawn(
                args,
                cwd=self.cwd,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
            )

    def _spawn_gunicorn(self) -> None:
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", 0))
            self.port = listener.getsockname()[1]
            self._spawn(
                [
                    *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
                    *("--bind", f"fd://{listener.fileno()}", "--timeout", "30"),
                    *self.extra_args,
                ],
                pass_fds=(listener.fileno(),),
            )
        finally:
            listener.close()  # gunicorn has its own copy; the port is freed when gunicorn exits

    def _answers(self) -> bool:
        if not running(self.process):
            raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
        return requests.get(self.url + self.ready_path, timeout=HTTP_TIMEOUT).status_code == 200

    def worker_pids(self) -> list[int]:
        """The PIDs of the server's workers: the children of its main process."""
        master = self.process.pid
        return [
            int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()
        ]

    def stop(self) -> None:
        if self.process:
            stop_group(self.process)

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
