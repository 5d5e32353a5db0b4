"""A private redis-server for fault tests: started on a free port, frozen, thawed, killed and
restarted by PID. The shared Redis is never touched. A context manager: it is stopped on every
way out, a failed start included."""

import os
import shutil
import signal
import subprocess

import redis

from tests.live import ROOT, free_port, running, spawn, stop_group, wait_until

# Commands of a test or a benchmark on its own server (a pipeline of 10,000 SETs, say) are never
# timed out by a loaded machine; a frozen server is only ever reached through the cache layer,
# which has timeouts of its own.
SOCKET_TIMEOUT = 30


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = ROOT / ".run" / f"redis-{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        """Start (or restart, after ``kill``) the server and wait until it answers as itself;
        on any failure it is stopped before the error propagates."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
        )
        try:
            wait_until(
                self._answers,
                interval=0.02,
                message=f"redis-server on port {self.port} did not start",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        """True once the server on the port is this one (another process may have taken the
        port between free_port() and the start: that server must not pass for ours)."""
        if not running(self.process):
            log = self.dir / "redis.log"
            raise RuntimeError(
                f"redis-server exited: {log.read_text()[-2000:] if log.exists() else ''}"
            )
        with redis.Redis(
            port=self.port, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        ) as client:
            return client.info("server")["process_id"] == self.process.pid

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL, as a crash); ``start`` brings it back on its port."""
        if self.process and running(self.process):
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process would not die
            self.process.kill()
            self.process.wait()

    def restart(self) -> "RedisServer":
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Kill the server, whatever its state, and remove its folder."""
        if self.process:
            stop_group(self.process, grace=5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, socket_timeout=SOCKET_TIMEOUT)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
