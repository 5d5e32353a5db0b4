"""Settings for the posts API; every value that varies comes from the environment (config.env)."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is false but DJANGO_SECRET_KEY is unset or the dev key: set a real secret."
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
BENCH_VIEWS = env_bool("BENCH_VIEWS", False)
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")  # who may GET /metrics  # mounts /bench/ceiling/<size>/ (bench/ only)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "caching",
    "users",
    "posts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postsapi"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the admin's and the API docs' assets from gunicorn (no CDN, no extra server).
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-redis owns the connection pool; caching/ is the only code that uses it. REDIS_URL is one
# Redis (redis://host:port/db) or a Redis Cluster (redis+cluster://host:port,host:port,...;
# caching.connections.ConnectionFactory builds redis-py's RedisCluster for it).
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": [REDIS_URL],  # a list: django-redis would split a cluster's node list on commas
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "CONNECTION_FACTORY": "caching.connections.ConnectionFactory",
            # A frozen Redis costs a request at most this (no retries), then the breaker opens.
            "SOCKET_CONNECT_TIMEOUT": env_int("CACHE_REDIS_TIMEOUT_MS", 250) / 1000,
            "SOCKET_TIMEOUT": env_int("CACHE_REDIS_TIMEOUT_MS", 250) / 1000,
        },
    }
}

# The caching app's options, all in one place (documented in caching/conf.py).
CACHE_LAYER = {
    "ENABLED": env_bool("CACHE_ENABLED", True),
    "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", ""),
    "DEFAULT_TTL": env_int("CACHE_DEFAULT_TTL", 600),
    "TTLS": {"user": 3600, "post": 1800, "users": 600, "posts": 600},
    "EMPTY_TTL": env_int("CACHE_EMPTY_TTL", 5),
    "BREAKER_FAILURES": env_int("CACHE_BREAKER_FAILURES", 3),
    "BREAKER_COOLDOWN_MS": env_int("CACHE_BREAKER_COOLDOWN_MS", 2000),
    "REPLICA_ACK_MS": env_int("CACHE_REPLICA_ACK_MS", 100),
    "LEASE_MS": env_int("CACHE_LEASE_MS", 2000),
    "LEASE_WAIT_MS": env_int("CACHE_LEASE_WAIT_MS", 1000),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Posts API",
    "DESCRIPTION": "Users and posts, read through a Redis cache service layer.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"caching": {"handlers": ["console"], "level": "INFO"}},
}
