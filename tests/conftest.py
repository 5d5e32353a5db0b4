"""Real PostgreSQL (pytest-django's test database) and real Redis, isolated per test by a key
prefix of its own; a test's keys are removed (SCAN of its prefix) when it ends."""

import contextlib
import uuid

import pytest
from rest_framework.test import APIClient

from caching.core import keys
from caching.core.state import STATE
from caching.database import guard
from caching.ops import keyspace
from caching.redis.connection import client as redis_client
from tests.factories import make_user

RUN = uuid.uuid4().hex[:8]


def delete_prefix(prefix: str) -> None:
    keyspace.delete_matching(keys.glob_escape(prefix) + "*")


@pytest.fixture(autouse=True)
def cache_prefix(settings, request):
    """Every test gets its own key prefix, so tests never see each other's keys."""
    prefix = f"t{RUN}-{uuid.uuid4().hex[:8]}"
    # A test wrapped in a transaction sees its own uncommitted outbox rows (no production
    # process can: the check is skipped inside application transactions), and a periodic
    # check would replay them mid-test. Tests of the outbox set the window themselves.
    settings.CACHE_LAYER = {
        **settings.CACHE_LAYER,
        "KEY_PREFIX": prefix,
        "ENABLED": True,
        "OUTBOX_CHECK_AFTER_MS": 600_000,
    }
    shared = settings.CACHES["default"]["LOCATION"]
    yield prefix
    STATE.reset()  # a test that opened the breaker (or anything else) leaves no state behind
    # Importing config.wsgi (test_fuzz's in-process app) bounds this process's database calls,
    # as in a web server: not for the tests after it.
    guard.unbound()
    if settings.CACHES["default"]["LOCATION"] == shared:  # a private server went with its test
        delete_prefix(prefix)


def entry(value):
    """A cache entry holding ``value`` rendered, as the selectors build them."""
    from api.responses import render
    from caching import Entry

    return Entry((render(value),))


def data(result):
    """The first part of a read's entry, parsed."""
    import json

    return json.loads(result.value.parts[0])


def closing_connections(fn):
    """Wrap ``fn`` for a worker thread: its database connection is closed when it returns."""
    from django.db import connections

    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return run


@pytest.fixture
def redis():
    return redis_client()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def staff(db):
    return make_user(is_staff=True)


@pytest.fixture
def as_user():
    """An API client authenticated as ``user`` (by token, as API clients do)."""
    from rest_framework.authtoken.models import Token

    def build(user):
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


@pytest.fixture
def live(transactional_db, cache_prefix):
    """Start the production server (2 workers, 1 thread each) for this test; yields a factory for
    extra settings. Every server started is stopped at the end, whatever the test did."""
    from tests.live import LiveServer

    with contextlib.ExitStack() as servers:
        yield lambda **kwargs: servers.enter_context(LiveServer(prefix=cache_prefix, **kwargs))


def pytest_collection_modifyitems(items):
    """Tests that bring a Redis of their own do the same on either pass of ``scripts/test.sh``
    (single Redis, then Redis Cluster): the cluster pass leaves them out
    (``-m "not own_redis"``)."""
    for item in items:
        if {"private_redis", "private_cluster", "cluster"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.own_redis)


@pytest.fixture(scope="module")
def cluster():
    """A 6-node Redis Cluster of this module's own (scripts/redis_cluster.py), stopped by PID."""
    from scripts.redis_cluster import Cluster
    from tests.live import ROOT

    with Cluster(
        ROOT / ".run" / f"cluster-{uuid.uuid4().hex[:8]}", node_timeout_ms=1000
    ) as started:
        yield started


@pytest.fixture
def private_cluster(settings):
    """A Redis Cluster of this test's own, used as the cache (the failover test kills a node)."""
    from scripts.redis_cluster import Cluster
    from tests.live import ROOT

    with Cluster(
        ROOT / ".run" / f"cluster-{uuid.uuid4().hex[:8]}", node_timeout_ms=1000
    ) as started:
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [started.url]}}
        settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_MS": 300}
        yield started


@pytest.fixture
def private_redis(settings):
    """A redis-server of this test's own, used as the cache; stopped by PID at the end."""
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
        settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_MS": 300}
        yield server
