"""A throwaway Redis Cluster for tests and CI: 6 ``redis-server`` processes (3 primaries, 3
replicas) on free loopback ports, under a project-local folder, stopped by PID.

    python scripts/redis_cluster.py start .run/cluster   # prints the REDIS_URL to use
    python scripts/redis_cluster.py stop .run/cluster

The folder holds each node's ``nodes.conf`` and log, ``pids`` and ``url``. Nothing is persisted
(no RDB, no AOF). The tests import ``Cluster`` to start a private one (the failover test kills
one of its primaries): a context manager, stopped on every way out; a failed start stops the
nodes it launched before raising.
"""

import argparse
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from redis.crc import key_slot

NODES = 6
REPLICAS = 1
BUS_OFFSET = 10000  # Redis Cluster's bus port is the client port + 10000
# Commands to a node are never timed out by a loaded machine (a frozen node is only reached
# through the cache layer, which has timeouts of its own); a wait retries a slow answer.
SOCKET_TIMEOUT = 30


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` ports whose cluster bus ports are free too."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + BUS_OFFSET < 65536 and port not in found and _free(port + BUS_OFFSET):
            found.append(port)
    return found


class Cluster:
    def __init__(
        self, folder: Path, *, node_timeout_ms: int = 3000, config: tuple[str, ...] = ()
    ) -> None:
        self.folder = Path(
            folder
        ).resolve()  # redis-server changes into --dir before opening its log
        self.node_timeout_ms = node_timeout_ms
        self.config = config  # more redis-server arguments each node starts with
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, timeout: float = 60) -> "Cluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ports = free_ports(NODES)
        try:
            for port in self.ports:
                self._spawn(port)
            (self.folder / "pids").write_text(
                "".join(f"{p.pid} {port}\n" for port, p in self.processes.items())
            )
            for port in self.ports:
                _wait(lambda port=port: self._answers(port), timeout, f"node {port} did not start")
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{port}" for port in self.ports),
                    "--cluster-replicas",
                    str(REPLICAS),
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=timeout,
            )
            self.wait_healthy(timeout)
            self.wait_replicating(timeout)
        except BaseException:
            self.stop()
            raise
        (self.folder / "url").write_text(self.url + "\n")
        return self

    def _spawn(self, port: int) -> None:
        folder = self.folder / f"node-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        # A session of its own: a node outlives the `start` command (scripts/test.sh stops it by
        # PID), and a terminal's signals to the caller do not reach it.
        self.processes[port] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--logfile",
                str(folder / "redis.log"),
                *self.config,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _answers(self, port: int) -> bool:
        """True once the server on ``port`` is this node (another process may have taken the
        port between free_ports() and the start: that server must not pass for ours)."""
        process = self.processes[port]
        if process.poll() is not None:
            raise RuntimeError(
                f"node {port} exited ({process.returncode}); see "
                f"{self.folder / f'node-{port}' / 'redis.log'}"
            )
        return self.node(port).info("server")["process_id"] == process.pid

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(
            port=port, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )

    def alive(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def primaries(self) -> list[int]:
        """Ports of the live nodes that are primaries now."""
        return [
            port for port in self.alive() if self.node(port).info("replication")["role"] == "master"
        ]

    def serving(self, slot: int) -> set[int]:
        """The port of the primary serving ``slot``, as each live node sees it."""
        seen = set()
        for port in self.alive():
            for low, high, primary, *_ in self.node(port).execute_command("CLUSTER SLOTS"):
                if low <= slot <= high:
                    seen.add(int(primary[1]))
        return seen

    def healthy(self, *, replicas: bool = True) -> bool:
        """Every live node sees all slots served, and (with ``replicas``) every primary has a
        replica in sync; after a failover the promoted replica has none until one joins it."""
        try:
            for port in self.alive():
                info = self.node(port).cluster("info")
                if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != 16384:
                    return False
            return not replicas or all(
                any(
                    r.get("state") == "online"
                    for k, r in self.node(port).info("replication").items()
                    if k.startswith("slave")
                )
                for port in self.primaries()
            )
        except redis.RedisError:
            return False

    def wait_healthy(self, timeout: float = 60) -> None:
        _wait(self.healthy, timeout, "the cluster did not become healthy")

    def reader(self, port: int) -> redis.Redis:
        """A connection to node ``port`` that reads its own keys even on a replica (READONLY)."""
        conn = redis.Redis(port=port, socket_timeout=SOCKET_TIMEOUT, single_connection_client=True)
        conn.execute_command("READONLY")
        return conn

    def replica_of(self, port: int) -> int:
        """The port of the (first) replica of primary ``port``."""
        return int(self.node(port).info("replication")["slave0"]["port"])

    def freeze(self, port: int) -> None:
        os.kill(self.processes[port].pid, signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        os.kill(self.processes[port].pid, signal.SIGCONT)

    def wait_replicating(self, timeout: float = 60) -> None:
        """Until a write on each primary is acknowledged by its replica (``WAIT``): after a full
        sync a primary starts the replica's command stream only at its first acknowledgement,
        which a replica sends once a second."""
        for port in self.primaries():
            node = self.node(port)
            owned = [
                (low, high)
                for low, high, primary, *_ in node.execute_command("CLUSTER SLOTS")
                if int(primary[1]) == port
            ]
            probe = next(
                f"_probe{i}"
                for i in itertools.count()
                if any(low <= key_slot(f"_probe{i}".encode()) <= high for low, high in owned)
            )

            def acknowledged(node: redis.Redis = node, probe: str = probe) -> bool:
                pipe = node.pipeline(transaction=False)
                pipe.set(probe, 1, ex=60)
                pipe.execute_command("WAIT", 1, 100)
                return pipe.execute()[-1] >= 1

            _wait(acknowledged, timeout, f"the replica of {port} does not acknowledge writes")
            node.delete(probe)

    def failover(self, replica: int, timeout: float = 30) -> None:
        """A coordinated failover (``CLUSTER FAILOVER`` on ``replica``): its primary pauses its
        writers, the replica catches up and takes over; the old primary stays up, a replica."""
        self.node(replica).execute_command("CLUSTER", "FAILOVER")
        _wait(
            lambda: self.node(replica).info("replication")["role"] == "master",
            timeout,
            f"{replica} was not promoted",
        )

    def migrate(self, slot: int, source: int, target: int) -> None:
        """Move ``slot`` and its keys from primary ``source`` to primary ``target`` as
        ``redis-cli --cluster reshard`` does: IMPORTING, MIGRATING, ``MIGRATE`` of every key
        (which deletes it on the source), then the new owner told to every primary."""
        source_node, target_node = self.node(source), self.node(target)
        ids = {
            port: self.node(port).execute_command("CLUSTER", "MYID") for port in (source, target)
        }
        target_node.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
        source_node.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
        while names := source_node.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000):
            source_node.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *names)
        for port in (target, source, *self.primaries()):
            self.node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])

    def reassign(self, slot: int, source: int, target: int, timeout: float = 30) -> None:
        """Give ``slot`` to primary ``target`` without its keys: ``DELSLOTS`` on ``source`` (its
        keys stay there, orphaned, and no invalidation is sent), then the new owner, with a new
        config epoch, told to every primary (replicas follow their primaries)."""
        self.node(source).execute_command("CLUSTER", "DELSLOTS", slot)
        self.node(target).execute_command("CLUSTER", "BUMPEPOCH")
        owner = self.node(target).execute_command("CLUSTER", "MYID")
        for port in [target, *self.primaries()]:
            self.node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", owner)
        _wait(lambda: self.serving(slot) == {target}, timeout, f"{slot} is not {target}'s")

    def kill(self, port: int) -> None:
        """Kill one node (SIGKILL, as a crash)."""
        process = self.processes[port]
        os.kill(process.pid, signal.SIGCONT)  # a stopped process would not die
        process.kill()
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait(ready, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.05)


def stop(folder: Path) -> None:
    """Stop the cluster started in ``folder`` by another process (``pids`` lists its nodes).
    A PID is killed only while it is still that node's redis-server (not a reused PID)."""
    pids = folder / "pids"
    if pids.exists():
        for line in pids.read_text().splitlines():
            pid, port = (line.split() + [""])[:2]  # an older file lists PIDs only
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue  # gone already
            # its title: "redis-server host:port [cluster]"
            if "redis-server" in command and (
                f":{port} " in command + " " if port else "[cluster]" in command
            ):
                os.kill(int(pid), signal.SIGCONT)
                os.kill(int(pid), signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--node-timeout-ms", type=int, default=3000)
    args = parser.parse_args()
    if args.action == "stop":
        stop(args.folder)
        return 0
    stop(args.folder)  # a cluster left behind by a killed run
    cluster = Cluster(args.folder, node_timeout_ms=args.node_timeout_ms)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    print(cluster.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
