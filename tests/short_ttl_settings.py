"""Settings of the servers in ``tests/test_database_faults.py`` that need entries to outlive
their TTL within a test: production settings with a TTL of 2 s for users and posts."""

from config.settings import *  # noqa: F403
from config.settings import CACHE_LAYER

TTL = 2
CACHE_LAYER = {**CACHE_LAYER, "TTLS": {"user": TTL, "post": TTL, "users": TTL, "posts": TTL}}
