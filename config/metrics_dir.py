"""Where prometheus-client keeps each worker's samples, so that ``/metrics`` adds up every
worker of a server whichever one answers the scrape (multiprocess mode).

prometheus-client chooses its mode when first imported, from ``PROMETHEUS_MULTIPROC_DIR``. So:

- ``gunicorn.conf.py`` (gunicorn reads it from the working directory) calls ``for_server`` in
  the master before any worker exists;
- ``config/serve.py`` (the production start, granian) calls it too, before its workers start;
- ``config/wsgi.py`` and ``config/asgi.py`` call ``for_process`` before Django loads, for a
  gunicorn started without that file or a plain ``granian`` command: the application sets the
  mode up itself;
- an operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is.

A server's directory is named after its master process (its PID and start time, so a reused PID
is another name) under ``<tempdir>/postsapi-prometheus-<uid>/``; a server that sets one up
removes those of servers no longer running.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from config.env import env_str

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def root() -> Path:
    return Path(tempfile.gettempdir()) / f"postsapi-prometheus-{os.getuid()}"


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc``), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _name(pid: int) -> str:
    return f"{pid}-{_started(pid) or 0}"


def _running(name: str) -> bool:
    pid, _, started = name.partition("-")
    return pid.isdigit() and _started(int(pid)) == started


def server_dir(master_pid: int) -> Path:
    """The directory a server whose master is ``master_pid`` uses unless the operator set one."""
    return root() / _name(master_pid)


def for_server(master_pid: int) -> Path:
    """Set (unless the operator did) and create the directory of the server whose master is
    ``master_pid``; return it. An operator's directory is emptied of earlier runs' samples,
    which would be added in; so is it when gunicorn reloads (HUP runs ``gunicorn.conf.py``
    again), while the server's own directory is kept then."""
    given = env_str(VARIABLE, "")
    if given and given != str(server_dir(master_pid)):
        path = Path(given)
        for stale in path.glob("*.db"):
            stale.unlink()
    elif given:
        path = Path(given)
    else:
        path = server_dir(master_pid)
        os.environ[VARIABLE] = str(path)
        _remove_stopped_servers()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_stopped_servers() -> None:
    if not root().is_dir():
        return
    for entry in root().iterdir():
        if entry.is_dir() and not _running(entry.name):
            shutil.rmtree(entry, ignore_errors=True)


def for_process() -> None:
    """Called by the WSGI/ASGI module before Django loads: under a gunicorn that did not set
    the directory up (no ``gunicorn.conf.py``) or a plain ``granian`` command, set up its
    master's. Elsewhere (``runserver``,
    tests, management commands) a process's own registry is the whole truth."""
    given = env_str(VARIABLE, "")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        return
    master = os.getppid() if "granian" in sys.modules else _gunicorn_master()
    if master is not None:
        for_server(master)


def _gunicorn_master() -> int | None:
    """The PID of the gunicorn master this process belongs to, or None outside gunicorn.

    A worker loads the application after the fork, inside ``Worker.init_process``; with
    ``--preload`` the master loads it itself, before forking, and the workers inherit the
    environment it sets."""
    if "gunicorn.arbiter" not in sys.modules:
        return None
    base = sys.modules.get("gunicorn.workers.base")
    frame = sys._getframe()
    while frame is not None:
        if base is not None and isinstance(frame.f_locals.get("self"), base.Worker):
            return os.getppid()
        frame = frame.f_back
    return os.getpid()
