"""Redis memory in the cache's surfaces (SPEC 10.7): the stats API, ``cache_stats`` and the
admin dashboard show memory used, ``maxmemory``, the eviction policy and the evicted-key count."""

import json
import re

import pytest
from django.core.management import call_command
from django.test import Client

from caching.redis.cluster import primaries

pytestmark = pytest.mark.django_db

MAXMEMORY = 8 << 20


def test_stats_api_shows_memory_per_primary_and_summed(as_user, staff, redis):
    body = as_user(staff).get("/api/cache/stats/").json()["redis"]
    nodes = body["nodes"]
    assert len(nodes) == len(primaries(redis))  # 1 on one Redis, each primary on a cluster
    assert body["used_memory"] == sum(n["used_memory"] for n in nodes) > 0
    assert body["evicted_keys"] == sum(n["evicted_keys"] for n in nodes)
    assert set(body["policy"].split(",")) == {n["policy"] for n in nodes}
    assert body["full"] is False


def test_every_surface_shows_maxmemory_policy_and_evictions(as_user, staff, private_redis, capsys):
    server = private_redis.client()
    server.config_set("maxmemory-policy", "allkeys-lru")
    server.config_set("maxmemory", MAXMEMORY)
    filler = private_redis.client(db=1)
    for n in range(2 * MAXMEMORY // 16384):  # twice maxmemory: Redis evicts about half
        filler.set(f"filler:{n}", b"x" * 16384)
    evicted = server.info("stats")["evicted_keys"]
    assert evicted > 0

    def counted(shown) -> bool:  # every command may evict a little more
        return evicted <= int(shown) <= server.info("stats")["evicted_keys"]

    body = as_user(staff).get("/api/cache/stats/").json()["redis"]
    assert (
        body["maxmemory"] == MAXMEMORY
        and body["policy"] == "allkeys-lru"
        and counted(body["evicted_keys"])
    )
    assert 0 < body["used_memory"] <= MAXMEMORY * 1.1 and body["full"] is False
    assert body["nodes"] == [
        {
            **{k: body[k] for k in ("used_memory", "maxmemory", "policy", "evicted_keys", "full")},
            "node": f"127.0.0.1:{private_redis.port}",
        }
    ]

    call_command("cache_stats", "--json")
    assert counted(json.loads(capsys.readouterr().out)["redis"]["evicted_keys"])
    call_command("cache_stats")
    row = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(f"127.0.0.1:{private_redis.port}")
    ]
    assert (
        len(row) == 1
        and "8.0 MiB" in row[0]
        and "allkeys-lru" in row[0]
        and counted(row[0].split()[-1])
    )

    admin = Client()
    admin.force_login(staff)
    page = admin.get("/admin/cache/").content.decode()
    table = re.search(r'<table id="redis-memory".*?</table>', page, re.S).group(0)
    assert f'data-bytes="{MAXMEMORY}">8.0\xa0MB' in table and "allkeys-lru" in table
    assert counted(re.search(r'class="evicted">(\d+)<', table).group(1))
