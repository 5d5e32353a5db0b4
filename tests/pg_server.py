"""A private PostgreSQL server for fault tests: started on a free port, frozen, thawed, killed and
restarted by PID. The shared PostgreSQL is never touched. A context manager: it is stopped, and
its data directory removed, on every way out, a failed start included.

Each server's data directory is a copy of a template that ``initdb`` makes once (under a file
lock, so parallel runs share it) in ``<temp dir>/postsapi-pg-<uid>/pg-template``. PostgreSQL
refuses to run as root: as root, its programs run as the ``postgres`` user, as
``scripts/setup.sh`` does. Durability against
a machine crash is off (``fsync``, ``full_page_writes``): the data is thrown away anyway.

If the test process dies without stopping its servers (SIGKILL), a watchdog process, one per
running postmaster, stops the server and removes its directory."""

import contextlib
import fcntl
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from tests.live import free_port, running, spawn, wait_until

# Not under the project: as root, the servers run as ``postgres``, which may not be allowed
# into the checkout (a clone in a private temporary directory); the temp dir is open to all.
RUN_DIR = Path(tempfile.gettempdir()) / f"postsapi-pg-{os.getuid()}"
TEMPLATE = RUN_DIR / "pg-template"
TEMPLATE_LOCK = RUN_DIR / "pg-template.lock"
# synchronous_commit stays on: a commit is in the WAL (the OS's cache, as fsync is off) before
# it returns, so an immediate shutdown (``kill``) loses no committed write, as tests check.
SETTINGS = {"fsync": "off", "full_page_writes": "off"}
# A connection attempt while the server starts; a loaded machine takes seconds.
CONNECT_TIMEOUT = 10
# How long an immediate shutdown may take before the server's processes are killed.
STOP_TIMEOUT = 30.0

# The watchdog: it waits for the end of its standard input. Data first means that the owner
# stops the server itself; an end with no data means that the owner died: it then stops the
# server's processes (the postmaster is known by its PID and its start time, so that a reused PID
# is never signalled) and removes the data directory. Self-contained: it runs as ``python -I -S``.
WATCHDOG = r"""
import os, shutil, signal, sys, time

postmaster, started, directory = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if sys.stdin.buffer.read():
    sys.exit()


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def alive(pid, start):
    fields = stat(pid)
    return fields is not None and fields[19] == start and fields[0] != "Z"


def send(pid, start, sig):
    if alive(pid, start):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


tree = []
if alive(postmaster, started):
    children = {}
    for name in os.listdir("/proc"):
        fields = stat(name) if name.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append((int(name), fields[19]))
    tree = [(postmaster, started)]
    for pid, _ in tree:
        tree.extend(children.get(pid, []))
for pid, start in reversed(tree):
    send(pid, start, signal.SIGCONT)
if tree:
    send(postmaster, started, signal.SIGQUIT)
    deadline = time.monotonic() + 30
    while alive(postmaster, started) and time.monotonic() < deadline:
        time.sleep(0.05)
for pid, start in tree:
    send(pid, start, signal.SIGKILL)
deadline = time.monotonic() + 10
while any(alive(pid, start) for pid, start in tree) and time.monotonic() < deadline:
    time.sleep(0.05)
shutil.rmtree(directory, ignore_errors=True)
"""


@functools.cache
def bindir() -> Path:
    """The newest installed PostgreSQL's programs (Debian's layout), else those on the PATH."""
    installed = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")
        if re.fullmatch(r"\d+(\.\d+)?", path.parent.parent.name)
    ]
    if installed:
        return max(installed, key=lambda path: [int(n) for n in path.parent.name.split(".")])
    found = shutil.which("postgres") or shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")


@functools.cache
def major_version() -> str:
    """The major version of ``bindir()``'s server, as its data directories' PG_VERSION says."""
    output = subprocess.run(
        [bindir() / "postgres", "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)\.(\d+)", output)
    if match is None:
        raise RuntimeError(f"unknown PostgreSQL version: {output!r}")
    major, minor = match.groups()
    return major if int(major) >= 10 else f"{major}.{minor}"


def as_owner() -> dict[str, Any]:
    """``Popen`` arguments that run a PostgreSQL program as ``postgres`` when we are root (it
    refuses to run as root); as ourselves otherwise. The process is ours to signal either way."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def give(path: Path) -> None:
    """Make ``path`` belong to the user the server runs as."""
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat from the state on (state, ppid, ...; field n of proc(5) is
    item n - 3), or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot): with the PID, its identity."""
    fields = stat(pid)
    return fields[19] if fields else None


def process_tree(pid: int) -> list[tuple[int, str]]:
    """``pid`` and all its descendants, parents first, each as (PID, start time). Complete and
    exact only while ``pid`` is stopped: then it forks nothing and reaps nothing."""
    start = start_time(pid)
    if start is None:
        return []
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        fields = stat(int(entry)) if entry.isdigit() else None
        if fields:
            children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    tree = [(pid, start)]
    for parent, _ in tree:  # grows while it is walked: breadth first
        tree.extend(children.get(parent, []))
    return tree


def send(pid: int, start: str, sig: int) -> None:
    """Send ``sig`` to process ``pid`` if it is still the one that started at ``start``."""
    if start_time(pid) == start:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def gone(pid: int, start: str) -> bool:
    """Has the process exited (a zombie, or reaped)?"""
    fields = stat(pid)
    return fields is None or fields[19] != start or fields[0] in ("Z", "X")


def stopped(pid: int, start: str) -> bool:
    """Is the process stopped by a signal, or gone?"""
    fields = stat(pid)
    return gone(pid, start) or (fields is not None and fields[0] in ("T", "t"))


@contextlib.contextmanager
def template_lock(operation: int) -> Iterator[None]:
    """Hold the template's file lock: shared to copy it, exclusive to (re)build it."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with TEMPLATE_LOCK.open("a") as lock:
        fcntl.flock(lock, operation)
        yield  # closing the file releases the lock


def template_ready() -> bool:
    version = TEMPLATE / "PG_VERSION"
    return (
        version.is_file()
        and version.read_text().strip() == major_version()
        and (TEMPLATE / "global" / "pg_control").is_file()
    )


def build_template() -> None:
    """Run initdb into a folder of its own, then rename it the template: a half-built template
    (a run killed during initdb) is never seen. Call with the lock held exclusively."""
    for leftover in RUN_DIR.glob("pg-template.*-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    building = RUN_DIR / f"pg-template.building-{os.getpid()}"
    building.mkdir(mode=0o700)
    give(building)
    result = subprocess.run(
        [
            *(bindir() / "initdb", "-D", building, "-U", "postgres", "--auth=trust"),
            *("--encoding=UTF8", "--locale=C"),
        ],
        cwd=building,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        **as_owner(),
    )
    if result.returncode:
        shutil.rmtree(building, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {result.stdout}{result.stderr}")
    if TEMPLATE.exists():  # another major version's
        old = TEMPLATE.rename(RUN_DIR / f"pg-template.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
    building.rename(TEMPLATE)


def copy_template(directory: Path) -> None:
    """Fill the empty ``directory`` with a copy of the template, built first if need be. The copy
    keeps owners (postgres) and modes (0700), as the server requires."""
    while True:
        with template_lock(fcntl.LOCK_SH):
            if template_ready():
                subprocess.run(
                    ["cp", "-a", f"{TEMPLATE}/.", str(directory)],
                    check=True,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                )
                return
        with template_lock(fcntl.LOCK_EX):
            if not template_ready():
                build_template()


class PostgresServer:
    """A postmaster of our own on 127.0.0.1:``port``, its data and unix sockets in ``dir``.

    ``start()`` (or entering the context) starts it, creating its data directory the first time;
    ``freeze()``/``thaw()`` stop and continue all its processes; ``kill()`` stops it and keeps its
    data, ``start()``/``restart()`` bring it back on the same port; ``stop()`` (or leaving the
    context) stops it and removes its data."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = RUN_DIR / f"pg-{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self._created = False  # has this object created self.dir (so it is ours to remove)?
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> "PostgresServer":
        """Start the server (or start it again, after ``kill``) and wait until it accepts
        connections as itself; on any failure it is stopped (its data removed) before the error
        propagates."""
        if self.process is not None and running(self.process):
            raise RuntimeError(f"the PostgreSQL server on port {self.port} is running already")
        try:
            self.kill()  # reaps a postmaster that exited by itself, and dismisses its watchdog
            if not self._created:
                self._create()
            self._launch()
            wait_until(
                self._answers,
                interval=0.05,
                message=f"PostgreSQL on port {self.port} did not start",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        """Claim a data directory (a free port whose folder nobody else has, a leftover of a
        crashed run or another process's server), then copy the template into it."""
        for _ in range(20):
            try:
                self.dir.mkdir(mode=0o700, parents=False)
                break
            except FileExistsError:
                self.port = free_port()
                self.dir = RUN_DIR / f"pg-{self.port}"
            except FileNotFoundError:
                RUN_DIR.mkdir(parents=True, exist_ok=True)
        else:
            raise RuntimeError(f"no free data directory in {RUN_DIR}")
        self._created = True
        give(self.dir)
        copy_template(self.dir)

    def _launch(self) -> None:
        # Left by a postmaster killed with SIGKILL (ours is reaped, its processes are gone): the
        # server would otherwise take it for a running one if its PID has been reused.
        (self.dir / "postmaster.pid").unlink(missing_ok=True)
        settings = [arg for name, value in SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        with self.log.open("ab") as log:
            self.process = spawn(
                [
                    *(str(bindir() / "postgres"), "-D", str(self.dir), "-p", str(self.port)),
                    *("-h", "127.0.0.1", "-k", str(self.dir), *settings),
                ],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                **as_owner(),
            )
        self._watch(self.process.pid)

    def _watch(self, pid: int) -> None:
        start = start_time(pid)
        if start is None:  # exited already: the start fails, and is cleaned up, as it is
            return
        self._watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", WATCHDOG, str(pid), start, str(self.dir)],
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _dismiss_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        try:
            assert watchdog.stdin is not None
            watchdog.stdin.write(b"stop")
            watchdog.stdin.close()
        except BrokenPipeError:  # it died: nothing to tell it
            pass
        try:
            watchdog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()

    def _answers(self) -> bool:
        """True once the server on the port is this one (another process may have taken the
        port between free_port() and the start: that server must not pass for ours)."""
        if self.process is None or not running(self.process):
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"postgres exited: {log}")
        try:
            with self.connect(connect_timeout=CONNECT_TIMEOUT) as connection:
                row = connection.execute("SELECT current_setting('data_directory')").fetchone()
        except psycopg.OperationalError:  # not listening yet, or starting up
            return False
        if row is None or row[0] != str(self.dir):
            raise RuntimeError(f"port {self.port} is another PostgreSQL's (data in {row})")
        return True

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        """A new connection (autocommit) to ``dbname`` as the superuser, ``postgres``."""
        return psycopg.connect(self.url(dbname), autocommit=True, **kwargs)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create the database ``name`` (a copy of ``template``, if given); return its URL."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with self.connect() as connection:
            connection.execute(query)
        return self.url(name)

    @property
    def pid(self) -> int:
        """The postmaster's PID; an error if it is not running."""
        if self.process is None or not running(self.process):
            raise RuntimeError(f"the PostgreSQL server on port {self.port} is not running")
        return self.process.pid

    def pids(self) -> list[int]:
        """The postmaster and all its processes (backends, checkpointer, walwriter...)."""
        return [pid for pid, _ in process_tree(self.pid)]

    def freeze(self) -> None:
        """Stop (SIGSTOP) the postmaster and all its processes: the kernel still accepts TCP
        connections on the port, but nothing answers them, nor any query on an open
        connection. The postmaster first, and waited for: once it is stopped it forks no new
        process and reaps none, so the list of its children is complete and their PIDs stay
        theirs; then every child, and this returns once all are stopped."""
        postmaster = self.pid
        started = start_time(postmaster) or ""
        os.kill(postmaster, signal.SIGSTOP)
        self.frozen = True
        wait_until(lambda: stopped(postmaster, started), message="the postmaster did not stop")
        tree = process_tree(postmaster)  # now complete: no fork can be under way
        for pid, start in tree[1:]:
            send(pid, start, signal.SIGSTOP)
        wait_until(
            lambda: all(stopped(pid, start) for pid, start in tree),
            message="the PostgreSQL processes did not stop",
        )

    def thaw(self) -> None:
        """Continue (SIGCONT) every process of the server: the children first, the postmaster
        last, so that it never runs, accepting connections and forking backends, beside stopped
        children (whose locks and signals it would wait on); while it is stopped no child of
        its is reaped, so their PIDs are still theirs."""
        for pid, start in reversed(process_tree(self.pid)):
            send(pid, start, signal.SIGCONT)
        self.frozen = False

    def kill(self) -> None:
        """Stop the server at once and keep its data: an immediate shutdown (SIGQUIT, after
        continuing a frozen server), which cuts off every client, as a stopped PostgreSQL would;
        processes still there after STOP_TIMEOUT are killed. ``start()`` or ``restart()`` bring
        it back on its port (after a quick crash recovery)."""
        self._dismiss_watchdog()
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            if running(process):
                tree = process_tree(process.pid)
                for pid, start in reversed(tree):  # a stopped process would not act on SIGQUIT
                    send(pid, start, signal.SIGCONT)
                self.frozen = False
                os.kill(process.pid, signal.SIGQUIT)
                deadline = time.monotonic() + STOP_TIMEOUT
                while running(process) and time.monotonic() < deadline:
                    time.sleep(0.02)
                for pid, start in tree:  # past the deadline, or children that outlived it
                    send(pid, start, signal.SIGKILL)
                wait_until(
                    lambda: all(gone(pid, start) for pid, start in tree),
                    message="the PostgreSQL processes did not exit",
                )
        finally:
            process.wait()
            self.frozen = False

    def restart(self) -> "PostgresServer":
        """Stop the server (``kill``) if it runs, and start it again on the same port with the
        same data."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Stop the server, whatever its state, and remove its data directory."""
        try:
            self.kill()
        finally:
            self._dismiss_watchdog()
            if self._created:
                shutil.rmtree(self.dir, ignore_errors=True)
                self._created = False

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
