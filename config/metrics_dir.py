"""Where prometheus-client keeps each worker's samples, so that ``/metrics`` adds up every
worker of a server (docs/operations.md, "Metrics"). prometheus-client reads
``PROMETHEUS_MULTIPROC_DIR`` when first imported, so the starts (``config/serve.py``,
``gunicorn.conf.py``, ``config/wsgi.py``) set it up first: a directory per server, named after
its master's PID; a server that sets one up removes those of servers no longer running."""

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from config.env import env_str

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def root() -> Path:
    return Path(tempfile.gettempdir()) / f"postsapi-prometheus-{os.getuid()}"


def server_dir(master_pid: int) -> Path:
    """The directory a server whose master is ``master_pid`` uses unless the operator set one."""
    return root() / str(master_pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def for_server(master_pid: int) -> Path:
    """Set (unless the operator did), create and return the server's directory; an operator's is
    emptied of earlier runs' samples. Run again in the same master (gunicorn's reload), it keeps
    the directory as it is."""
    given = env_str(VARIABLE, "")
    path = server_dir(master_pid)
    if given and given != str(path):
        path = Path(given)
        for stale in path.glob("*.db"):
            stale.unlink()
    elif not given:
        os.environ[VARIABLE] = str(path)
        for entry in root().glob("*"):  # stopped servers', and a reused PID's
            if not entry.name.isdigit() or not _running(int(entry.name)) or entry == path:
                shutil.rmtree(entry, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove(path: Path) -> None:
    """A stopped server's directory, and the folder above it once no server has one."""
    shutil.rmtree(path, ignore_errors=True)
    try:
        root().rmdir()
    except OSError:
        pass  # another server's is there, or it is gone already


def for_process() -> None:
    """Before Django loads: a plain ``granian`` gets its master's directory; a gunicorn without
    the project's config a warning, as its workers would each count alone."""
    given = env_str(VARIABLE, "")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
    elif "granian" in sys.modules:
        for_server(os.getppid())
    elif "gunicorn.arbiter" in sys.modules:
        logging.getLogger("config").warning(
            "gunicorn started without the project's gunicorn.conf.py: each worker counts its "
            "own metrics, so /metrics shows one worker's; start it from the project's root "
            "(or with -c path/to/gunicorn.conf.py), or use python -m config.serve"
        )
