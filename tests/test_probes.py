"""Probes: ``/api/health/live`` (the process answers: no database, no Redis) and
``/api/health/ready`` (the database answers and is migrated; the cache is reported, never
fatal), against real servers with PostgreSQL or Redis unreachable."""

import pytest
import requests
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from api import release
from caching import STATE
from tests.live import HTTP_TIMEOUT, free_port


def get(server, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=HTTP_TIMEOUT)


@pytest.mark.live
def test_with_postgresql_unreachable_live_stays_200_and_ready_turns_503(live):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    server = live(workers=1, env={"DATABASE_URL": nowhere}, ready_path="/api/health/live")
    assert get(server, "/api/health/live").json() == {"status": "ok"}
    ready = get(server, "/api/health/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready" and body["database"] == "unavailable"
    assert body["migrations"] == "unknown" and body["outbox_backlog"] is None
    assert get(server, "/api/health/").status_code == 503  # the old probe's contract


@pytest.mark.live
def test_with_redis_down_both_probes_stay_200(live):
    server = live(
        workers=1,
        env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        ready_path="/api/health/live",
    )
    assert get(server, "/api/health/live").status_code == 200
    ready = get(server, "/api/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"] == "ok"
    assert body["cache"] == "unavailable" and body["migrations"] == "applied"
    assert get(server, "/api/health/").json() == {"database": "ok", "cache": "unavailable"}


@pytest.mark.django_db
def test_ready_reports_the_release_and_the_backlog(client):
    body = client.get("/api/health/ready").json()
    assert body["release"] == {"version": release.VERSION, "commit": release.commit()}
    assert body["outbox_backlog"] == 0 and body["cache"] == "ok"
    assert len(body["release"]["commit"]) == 40 or body["release"]["commit"] == "unknown"


@pytest.mark.django_db
def test_live_touches_no_backend(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/api/health/live/").status_code == 200


@pytest.mark.django_db
def test_ready_turns_503_while_a_migration_is_pending(client):
    """A real pending migration: the database's history lacks the latest ``posts`` migration,
    as after a deploy that has not migrated yet (the test's transaction puts it back)."""
    assert client.get("/api/health/ready").json()["migrations"] == "applied"
    [latest] = MigrationLoader(connection).graph.leaf_nodes("posts")
    MigrationRecorder(connection).record_unapplied(*latest)
    STATE.reset()  # as a process started now would see it (the check is remembered once held)
    response = client.get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["migrations"] == "pending"
    assert body["database"] == "ok"
