"""Settings of the bare ceiling (bench/harness.py's ``bare_ceiling``): the project's settings
with only Django's security and common middleware, in front of bench/bare_urls.py's one view.
What a request costs in Django itself, measured beside the project's own ceiling view, which
pays for the whole middleware stack."""

from config.settings import *  # noqa: F403

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "bench.bare_urls"
