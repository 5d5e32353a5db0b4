"""The production start: ``python -m config.serve`` runs the API under granian (WSGI), with its
settings from the same ``WEB_*`` variables that ``gunicorn.conf.py`` reads (``.env.example``).

Chosen by measurement (docs/benchmarks.md, "Choosing the server"): on 2 cores, with the same
2 workers x 8 threads, granian answered 1.6x to 1.7x gunicorn gthread's cached hits at about
half its p99, and 1.15x to 1.45x its requests against a database 5 ms away. gunicorn keeps
working (``gunicorn config.wsgi:application``).

What gunicorn's config file did, done here: the metrics directory is set up in this process
before any worker exists (``config.metrics_dir``); the server's own log lines go through the
project's logging (JSON by default); the access line is the application's (``api.access_log``,
which carries the request id granian's own line cannot). A worker that exits is replaced, and
its live gauges are dropped at the next scrape (``caching.scrape``). SIGTERM or SIGINT stops
accepting, lets requests in flight finish for up to ``WEB_GRACEFUL_TIMEOUT`` seconds, then
kills what is left.
"""

import os

from config import metrics_dir
from config.env import env_int, env_str
from config.log_config import log_settings, logging_config


def server():  # type: ignore[no-untyped-def]  # granian ships no stubs for its server classes
    """The granian server the environment describes (not started)."""
    metrics_dir.for_server(os.getpid())  # before a worker imports prometheus-client
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    host, _, port = env_str("WEB_BIND", "127.0.0.1:8000").rpartition(":")
    return Server(
        "config.wsgi:application",
        address=host.strip("[]") or "0.0.0.0",
        port=int(port),
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=env_int("WEB_CONCURRENCY", 2),
        blocking_threads=env_int("WEB_THREADS", 8),
        http1_settings=HTTP1Settings(keep_alive=env_int("WEB_KEEPALIVE", 5) > 0),
        log_dictconfig=logging_config(*log_settings()),
        log_access=False,  # the application writes the access line (api.access_log)
        respawn_failed_workers=True,
        workers_kill_timeout=env_int("WEB_GRACEFUL_TIMEOUT", 30) or None,
    )


if __name__ == "__main__":
    server().serve()
