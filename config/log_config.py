"""The logging configuration, one for Django (``LOGGING``) and for the server (granian's
``log_dictconfig`` in ``config/serve.py``, gunicorn's ``logconfig_dict`` in
``gunicorn.conf.py``), so that the server's lines and the application's look the same.

Every logger writes to stderr through one handler: JSON per line by default, readable text with
``LOG_FORMAT=text`` (``scripts/serve.sh``). Formatters and the request filter: ``api.log``.
"""

from typing import Any

from config.env import env_bool, env_str

FORMATS = ("json", "text")


def log_settings() -> tuple[str, str, bool]:
    """``LOG_FORMAT``, ``LOG_LEVEL`` and ``LOG_ACCESS``, for ``logging_config``."""
    return env_str("LOG_FORMAT", "json"), env_str("LOG_LEVEL", "INFO"), env_bool("LOG_ACCESS", True)


def logging_config(log_format: str, level: str, access: bool = True) -> dict[str, Any]:
    """``dictConfig`` data: everything to stderr at ``level`` (Django's own ``mail_admins`` and
    debug-only console handlers replaced), 5xx from ``django.request`` with their traceback,
    the server's own lines, and the application's access line unless ``access`` is false."""
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
