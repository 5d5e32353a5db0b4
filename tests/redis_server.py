"""A private redis-server for fault tests: started on a free port, frozen, thawed, killed and
restarted by PID. The shared Redis is never touched."""

import os
import signal
import subprocess
import time

import redis

from tests.live import ROOT, free_port


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = ROOT / ".run" / f"redis-{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
        )
        client = redis.Redis(port=self.port, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.02)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process would not die
            self.process.kill()
            self.process.wait()

    def restart(self) -> "RedisServer":
        self.kill()
        return self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1)
