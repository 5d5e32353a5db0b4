"""The production start: ``python -m config.serve`` runs the API under granian (WSGI), set by the
``WEB_*`` variables as ``gunicorn.conf.py`` is (docs/configuration.md; why granian:
docs/benchmarks.md, "Choosing the server"; its behaviour: docs/operations.md, "The server")."""

import os

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import MPServer, MTServer, Server

from config import metrics_dir
from config.log_config import log_settings, logging_config
from config.web import Web, web


def address(settings: Web) -> tuple[str, int]:
    """``WEB_BIND``: ``host:port`` (``[::1]:8000`` for IPv6), the only form granian takes."""
    bind = settings.bind
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"WEB_BIND={bind!r} is not host:port (for example 0.0.0.0:8000)")
    return host.strip("[]"), int(port)


def server() -> MPServer | MTServer:
    """The granian server the environment describes (not started). granian's ``Server`` is
    ``MPServer`` or ``MTServer``, as granian was built with or without the GIL."""
    directory = metrics_dir.for_server(os.getpid())  # before any worker exists
    log_format, level, access = log_settings()
    settings = web()
    host, port = address(settings)
    served = Server(
        "config.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=settings.workers,
        blocking_threads=settings.threads,
        http1_settings=HTTP1Settings(keep_alive=settings.keepalive > 0),
        log_level=LogLevels(level.lower()),  # granian sets its loggers' level from this
        log_dictconfig=logging_config(log_format, level, access),
        log_access=False,  # the application writes the access line (api.access_log)
        respawn_failed_workers=True,
        workers_kill_timeout=settings.graceful_timeout or None,
    )
    if directory == metrics_dir.server_dir(os.getpid()):  # not the operator's: ours to remove
        served.on_shutdown(lambda: metrics_dir.remove(directory))
    return served


if __name__ == "__main__":
    server().serve()
