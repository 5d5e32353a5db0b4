"""gunicorn's settings, read from the working directory, so a plain ``gunicorn`` started here
uses them; from the same variables as ``config/serve.py`` (docs/configuration.md). ``--daemon``
is not supported: the metrics directory is named after the master, which daemonizing replaces."""

import os

from config import metrics_dir
from config.env import env_int, env_str
from config.log_config import log_settings, logging_config
from config.web import web

# Multiprocess metrics: the directory is set before anything imports prometheus-client (and a
# --preload loads the app). On a reload (HUP) this file runs again in the same master.
_metrics = metrics_dir.for_server(os.getpid())

_web = web()
wsgi_app = "config.wsgi:application"
bind = [_web.bind]
workers = _web.workers
threads = _web.threads
worker_class = "gthread" if threads > 1 else "sync"
timeout = env_int("WEB_TIMEOUT", 30)
graceful_timeout = _web.graceful_timeout
keepalive = _web.keepalive
# Off by default: each recycled worker leaves metric sample files that every scrape then reads.
max_requests = env_int("WEB_MAX_REQUESTS", 0)
max_requests_jitter = env_int("WEB_MAX_REQUESTS_JITTER", 1000)
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl) would be shared by every server of the
# user, and can resize or stop them: off. Signals do the same (HUP, TTIN, TTOU, TERM).
control_socket_disable = True

# The application's logging (config.log_config); it writes the access line, with the request id.
_log_format, _log_level, _access = log_settings()
logconfig_dict = logging_config(_log_format, _log_level, _access)
accesslog = None
errorlog = "-"
loglevel = _log_level.lower()


# A replaced worker's live gauges are dropped at the next scrape (caching.ops.scrape), as under
# every server: no child_exit hook.
def on_exit(server: object) -> None:  # server: gunicorn's Arbiter, unused
    if _metrics == metrics_dir.server_dir(os.getpid()):  # not the operator's
        metrics_dir.remove(_metrics)
