"""The server settings both starts share (``config/serve.py`` for granian, ``gunicorn.conf.py``),
read once from the ``WEB_*`` variables (``.env.example``), each default written here only."""

from dataclasses import dataclass

from config.env import env_int, env_str


@dataclass(frozen=True)
class Web:
    bind: str  # WEB_BIND, host:port
    workers: int  # WEB_CONCURRENCY: processes
    threads: int  # WEB_THREADS: gunicorn's gthread threads, granian's blocking threads
    keepalive: int  # WEB_KEEPALIVE: gunicorn's seconds; under granian 0 turns keep-alive off
    graceful_timeout: int  # WEB_GRACEFUL_TIMEOUT: seconds for requests in flight at a stop


def web() -> Web:
    return Web(
        bind=env_str("WEB_BIND", "127.0.0.1:8000"),
        workers=env_int("WEB_CONCURRENCY", 2),
        threads=env_int("WEB_THREADS", 8),
        keepalive=env_int("WEB_KEEPALIVE", 5),
        graceful_timeout=env_int("WEB_GRACEFUL_TIMEOUT", 30),
    )
