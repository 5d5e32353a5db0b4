"""gunicorn settings used by scripts/serve.sh: Prometheus multiprocess mode for /metrics."""

import os
import shutil
from pathlib import Path

_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent.parent / ".run" / "prometheus")))


def on_starting(server):
    """A fresh directory per server start: samples of earlier runs would be added in."""
    shutil.rmtree(_dir, ignore_errors=True)
    _dir.mkdir(parents=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
