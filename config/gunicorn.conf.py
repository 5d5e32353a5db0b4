"""gunicorn settings used by scripts/serve.sh: Prometheus multiprocess mode for /metrics.

``PROMETHEUS_MULTIPROC_DIR`` defaults to ``.run/prometheus``; each server start removes the
sample files (``*.db``) left there by earlier runs, and only those.
"""

import os
from pathlib import Path

_dir = Path(
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR",
        str(Path(__file__).resolve().parent.parent / ".run" / "prometheus"),
    )
)

# After the directory is set: prometheus_client picks its multiprocess mode when first imported.
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server):
    """Earlier runs' samples would be added in: start from no sample files."""
    _dir.mkdir(parents=True, exist_ok=True)
    for stale in _dir.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
