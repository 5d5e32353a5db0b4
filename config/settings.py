"""Settings for the posts API; every value that varies comes from the environment (config.env)."""

import logging
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from api.release import VERSION as RELEASE
from caching.core.options import Options
from config.env import env_bool, env_fields, env_int, env_list, env_str
from config.log_config import log_settings, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
DEBUG = env_bool("DJANGO_DEBUG", False)  # fail closed: debug pages only when asked for
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is false but DJANGO_SECRET_KEY is unset or the dev key: set a real secret."
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
BENCH_VIEWS = env_bool("BENCH_VIEWS", False)  # mounts /bench/ceiling/<size>/ (bench/ only)
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")  # who may GET /metrics
CLIENT_ADDRESS = "api.net.client_address"  # how the apps read a request's client address
# Proxies in front that append to X-Forwarded-For (api.net.client_address); 0: REMOTE_ADDR.
PROXY_COUNT = env_int("DJANGO_PROXY_COUNT", 0)

# HTTPS behind a proxy (SPEC 10.2): the proxy terminates TLS and sets X-Forwarded-Proto.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^api/health/", r"^metrics$"]  # probes and scrapes speak plain HTTP
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "api.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"

# Bounded input (SPEC 10.6): a larger body is a 413 (api.errors.BoundedRequestMiddleware).
MAX_REQUEST_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "caching",
    "api",
    "users",
    "posts",
]

MIDDLEWARE = [
    "api.request_id.RequestIdMiddleware",  # first: every later layer's log lines carry the id
    "api.access_log.AccessLogMiddleware",
    "api.http_metrics.HttpMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.errors.BoundedRequestMiddleware",
    "api.errors.DatabaseUnavailableMiddleware",  # a view that needed PostgreSQL in vain: a 503
    "api.cached_reads.EarlyReadsMiddleware",  # a cached read answered here skips everything below
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # the admin login's lockout response
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # admin/index.html: the link to the cache dashboard
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's PostgreSQL backend with the calls of web requests bounded (caching.database; the
# bounds: docs/failures.md, "When PostgreSQL fails"). Commands and migrations are not bounded.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postsapi"),
        engine="caching.database",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
DB_CONNECT_TIMEOUT_S = env_int("DB_CONNECT_TIMEOUT_S", 2)
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 5000)

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out login before any password hash
    "django.contrib.auth.backends.ModelBackend",
]

# Login lockout (SPEC 10.3): django-axes with its database handler (users.lockout).
AUTH_FAILURE_LIMIT = env_int("AUTH_FAILURE_LIMIT", 5)
AUTH_LOCKOUT_SECONDS = env_int("AUTH_LOCKOUT_SECONDS", 900)
AXES_HANDLER = "users.lockout.LockoutHandler"
AXES_FAILURE_LIMIT = AUTH_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=AUTH_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
# A lockout lasts AUTH_LOCKOUT_SECONDS, not longer.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "api.net.client_address"
AXES_LOCKOUT_CALLABLE = "users.lockout.lockout_response"
AXES_VERBOSE = False
# Successes are not recorded (a token login has no session to tie them to).
AXES_DISABLE_ACCESS_LOG = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the admin's and the API docs' assets from gunicorn (no CDN, no extra server).
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-redis owns the pool; caching/ alone uses it. REDIS_URL: docs/configuration.md.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": [REDIS_URL],  # a list: django-redis would split a cluster's node list on commas
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "CONNECTION_FACTORY": "caching.redis.connection.ConnectionFactory",
            # A frozen Redis costs a request at most this (no retries), then the breaker opens.
            "SOCKET_CONNECT_TIMEOUT": env_int("CACHE_REDIS_TIMEOUT_MS", 250) / 1000,
            "SOCKET_TIMEOUT": env_int("CACHE_REDIS_TIMEOUT_MS", 250) / 1000,
        },
    }
}

# Each option of caching.core.options.Options but these from CACHE_<OPTION> when set.
CACHE_OPTIONS_NOT_FROM_THE_ENVIRONMENT = {"TTLS", "OUTBOX_CHECK_AFTER_MS"}
CACHE_LAYER = {
    **env_fields("CACHE_", Options, skip=CACHE_OPTIONS_NOT_FROM_THE_ENVIRONMENT),
    "TTLS": {"user": 3600, "post": 1800, "users": 600, "posts": 600},
}

_WRITE_RATE = env_str("API_WRITE_RATE", "120/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.CachedTokenAuthentication",  # DRF's, its reads' lookups cached
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    # Writes per user (SPEC 10.4); staff exempt. Counted in Redis, failing open (api.throttling).
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"writes": None if _WRITE_RATE.lower() == "none" else _WRITE_RATE},
    # No browsable API: every answer under /api/ is JSON, whatever the Accept header says.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.JSONOnly",
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Posts API",
    "DESCRIPTION": "Users and posts, read through a Redis cache service layer.",
    "VERSION": RELEASE,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

GIT_COMMIT = env_str("GIT_COMMIT", "")
HTTP_METRICS_ENABLED = env_bool("HTTP_METRICS_ENABLED", True)

LOG_FORMAT, LOG_LEVEL, LOG_ACCESS = log_settings()  # LOG_ACCESS: api.access_log's line
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL, LOG_ACCESS)
logging.captureWarnings(True)  # Python's warnings as log records, formatted like the rest
