"""Settings of the benchmark's expiring servers: production settings with every detail and
list entry's TTL at 1 s, so that a run of seconds crosses many expiries (bench/run.py)."""

from config.settings import *  # noqa: F403
from config.settings import CACHE_LAYER

CACHE_LAYER = {**CACHE_LAYER, "TTLS": {"user": 1, "post": 1, "users": 1, "posts": 1}}
