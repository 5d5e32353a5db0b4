"""The one logging configuration of Django (``LOGGING``) and of the server (``config/serve.py``,
``gunicorn.conf.py``): every logger to stderr through one handler, formatted by ``api.log``
(docs/operations.md, "Logs")."""

from typing import Any

from config.env import env_bool, env_str

FORMATS = ("json", "text")


def log_settings() -> tuple[str, str, bool]:
    """``LOG_FORMAT``, ``LOG_LEVEL`` and ``LOG_ACCESS``, for ``logging_config``."""
    return env_str("LOG_FORMAT", "json"), env_str("LOG_LEVEL", "INFO"), env_bool("LOG_ACCESS", True)


def logging_config(log_format: str, level: str, access: bool = True) -> dict[str, Any]:
    """``dictConfig`` data: everything to stderr at ``level`` (Django's ``mail_admins`` and
    debug-only console handlers replaced), the access line unless ``access`` is false."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT={log_format!r} is not one of {', '.join(FORMATS)}")
    level = level.upper()
    formatter = "api.log.JsonFormatter" if log_format == "json" else "api.log.TextFormatter"
    to_stderr = {"handlers": ["stderr"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "api.log.RequestContextFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "django": {**to_stderr, "level": level},
            "django.server": {**to_stderr, "level": level},
            # 500s, with their traceback (SPEC 10.1); 4xx are the client's business.
            "django.request": {**to_stderr, "level": "ERROR"},
            "axes": {**to_stderr, "level": "WARNING"},
            "api.access": {**to_stderr, "level": "INFO" if access else "WARNING"},
            "gunicorn.error": {**to_stderr, "level": level},
            "_granian": {**to_stderr, "level": level},
        },
    }
