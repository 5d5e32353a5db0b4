"""gunicorn's settings, read from the working directory (gunicorn's conventional place), so a
plain ``gunicorn config.wsgi:application`` (or just ``gunicorn``) started here uses them. Every
value comes from the environment (``.env.example``); command-line flags still win.

Defaults, from ``bench/workers.py`` on a 2-core machine (docs/benchmarks.md, "Choosing the worker
class"): threaded workers, since a cache hit leaves the CPU idle while it waits on Redis and a
slow database would leave a sync worker idle for the whole query.
"""

import os
import shutil

from config import metrics_dir
from config.env import env_bool, env_int, env_str
from config.log_config import logging_config

# Multiprocess metrics: the directory is set before anything imports prometheus-client.
_operators_dir = env_str(metrics_dir.VARIABLE, "")
_metrics = metrics_dir.for_server(os.getpid())

from prometheus_client import multiprocess  # noqa: E402

wsgi_app = "config.wsgi:application"
workers = env_int("WEB_CONCURRENCY", 2)
threads = env_int("WEB_THREADS", 8)
worker_class = "gthread" if threads > 1 else "sync"
# A worker silent this long is killed and replaced (a request stuck on a dead backend).
timeout = env_int("WEB_TIMEOUT", 30)
graceful_timeout = env_int("WEB_GRACEFUL_TIMEOUT", 30)
keepalive = env_int("WEB_KEEPALIVE", 5)
# Recycle workers after about this many requests (jitter: not all at once), bounding any leak.
max_requests = env_int("WEB_MAX_REQUESTS", 10000)
max_requests_jitter = env_int("WEB_MAX_REQUESTS_JITTER", 1000)
# The proxies whose X-Forwarded-* headers are believed (the client address, the scheme).
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl) would be shared by every server of the
# user, and can resize or stop them: off. Signals do the same (HUP, TTIN, TTOU, TERM).
control_socket_disable = True

# One JSON object per line on stderr, the same as the application's (config.log_config).
_access = env_bool("LOG_ACCESS", True)
logconfig_dict = logging_config(
    env_str("LOG_FORMAT", "json"), env_str("LOG_LEVEL", "INFO"), _access
)
accesslog = "-" if _access else None
errorlog = "-"
loglevel = env_str("LOG_LEVEL", "INFO").lower()


def on_starting(server):
    """Earlier runs' samples would be added in: start from no sample files."""
    for stale in _metrics.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if not _operators_dir:
        shutil.rmtree(_metrics, ignore_errors=True)
