"""PostgreSQL frozen or stopped under a live production server (SPEC 8.9): cached reads keep
being answered, everything that needs the database answers a JSON 503 with ``Retry-After`` in
bounded time, and after the thaw nothing is stale and no write is lost; an entry past its TTL
is served ``STALE`` while the database is down, never one a write invalidated, never a draft."""

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from posts.management.commands.seed_demo import DEMO_PASSWORD
from tests.live import HTTP_TIMEOUT, ROOT, wait_until
from tests.pg_server import PostgresServer

pytestmark = pytest.mark.live
TEMPLATE = "app_template"
CACHED_WITHIN_S, FAILED_WITHIN_S = 2.0, 15.0  # the bounds for a cached read, a 503


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL of this module's own, with a migrated and seeded template database."""
    with PostgresServer() as server:
        env = {**os.environ, "DATABASE_URL": server.create_database(TEMPLATE)}
        for command in (["migrate", "--noinput"], ["seed_demo", "--users", "5", "--posts", "60"]):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=-3
            )
        yield server


@pytest.fixture
def database(postgres):
    """A fresh copy of the template for one test: its URL."""
    return postgres.create_database(f"app_{uuid.uuid4().hex[:8]}", template=TEMPLATE)


def rows(postgres, url, query, *args):
    with postgres.connect(url.rsplit("/", 1)[1]) as connection:
        return connection.execute(query, args).fetchall()


def token_for(server, username):
    answer = requests.post(
        server.url + "/api/auth/token/",
        json={"username": username, "password": DEMO_PASSWORD},
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Token {answer.json()['token']}"}


def timed(method, url, headers=None, **kwargs):
    """One request on a connection of its own, closed after the answer (``Connection: close``):
    the test keeps every answer, and a kept answer keeps its pool, hence its connection, open
    (urllib3 closes a pool's connections only once the pool is collected). The server would hold
    them all, and granian accepts no connection past its backpressure (backlog / workers)."""
    began = time.monotonic()
    headers = {"Connection": "close", **(headers or {})}
    answer = requests.request(method, url, headers=headers, timeout=HTTP_TIMEOUT, **kwargs)
    return began, time.monotonic() - began, answer


def assert_unavailable(answer):
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"detail": "The database is unavailable; try again shortly."}
    assert int(answer.headers["Retry-After"]) >= 1


def no_breaker_open(server):
    """No worker's database breaker is open (``db_breaker_open``, the maximum over workers): one
    worker's answer says nothing of another's, whose breaker may still be cooling down."""
    answer = timed("GET", f"{server.url}/metrics")[2]
    # The line itself, not tests.test_metrics.sample: that reads 0 where the metric is missing.
    return answer.status_code == 200 and "\ndb_breaker_open 0.0\n" in answer.text


@pytest.mark.parametrize("fault", ["frozen", "stopped"])
def test_cached_reads_are_served_and_the_rest_fails_fast_while_postgres_is_away(
    live, postgres, database, fault
):
    server = live(env={"DATABASE_URL": database, "WEB_THREADS": "4"})
    published = [
        pk
        for (pk,) in rows(
            postgres,
            database,
            "SELECT id FROM posts_post WHERE status = 'published' ORDER BY id LIMIT 20",
        )
    ]
    (username,) = rows(postgres, database, "SELECT username FROM users_user LIMIT 1")[0]
    auth = token_for(server, username)
    own = requests.post(
        f"{server.url}/api/posts/",
        json={"title": "own", "body": "b", "category": "news", "status": "published"},
        headers=auth,
        timeout=HTTP_TIMEOUT,
    ).json()["id"]
    for pk in published:  # cached, in both workers (whichever answers)
        wait_until(
            lambda pk=pk: (
                requests.get(f"{server.url}/api/posts/{pk}/", timeout=HTTP_TIMEOUT).headers.get(
                    "X-Cache"
                )
                == "HIT"
            )
        )
    records: list[tuple[str, float, float, requests.Response]] = []
    lock, stop = threading.Lock(), threading.Event()

    def client(kind, n):
        i = 0
        while not stop.is_set():
            i += 1
            if kind == "cached":
                call = ("GET", f"{server.url}/api/posts/{published[(n + i) % len(published)]}/")
                kwargs = {}
            elif kind == "uncached":  # no such post: every read of it loads (None is not cached)
                call, kwargs = ("GET", f"{server.url}/api/posts/{10**6 + n * 1000 + i}/"), {}
            else:
                call = ("POST", f"{server.url}/api/posts/")
                kwargs = {
                    "json": {
                        "title": f"w{n}-{i}",
                        "body": "b",
                        "category": "news",
                        "status": "published",
                    },
                    "headers": auth,
                }
            began, took, answer = timed(*call, **kwargs)
            with lock:
                records.append((kind, began, took, answer))
            # Clients pace themselves (a 503's a little longer, not Retry-After's full second):
            # on 2 cores, clients spinning flat out starve the server's heartbeat thread.
            stop.wait(0.05 if answer.status_code == 503 else 0.005)

    # More clients that need the database (10 + 2) than the server has threads (2 x 4).
    clients = [("cached", n) for n in range(3)] + [("uncached", n) for n in range(10)]
    clients += [("write", n) for n in range(2)]
    threads = [threading.Thread(target=client, args=c, daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)  # ~600 cached reads on new connections: both workers have checked the outbox
        began = time.monotonic()
        postgres.freeze() if fault == "frozen" else postgres.kill()
        time.sleep(10)
        ended = time.monotonic()
        postgres.thaw() if fault == "frozen" else postgres.start()
        # Recovered: a write goes through again, and in every worker.
        wait_until(
            lambda: (
                timed(
                    "POST",
                    f"{server.url}/api/posts/",
                    json={"title": "after", "body": "b", "category": "news", "status": "published"},
                    headers=auth,
                )[2].status_code
                == 201
                and no_breaker_open(server)
            ),
            interval=0.2,
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(HTTP_TIMEOUT * 2)
    during = [r for r in records if began <= r[1] < ended]
    cached = [r for r in during if r[0] == "cached"]
    served = [r for r in cached if r[3].status_code == 200 and r[2] <= CACHED_WITHIN_S]
    assert cached and len(served) >= 0.95 * len(cached), sorted(
        (round(r[2], 2), r[3].status_code) for r in cached if r not in served
    )
    assert all(r[3].headers["X-Cache"] in ("HIT", "STALE") for r in served)
    needing = [r for r in during if r[0] != "cached"]
    slow = [(r[0], round(r[1] - began, 1), round(r[2], 1), r[3].status_code) for r in needing]
    assert max(r[2] for r in needing) <= FAILED_WITHIN_S, [s for s in slow if s[2] > 2]
    failed = [r for r in needing if r[3].status_code not in (201, 404)]
    assert len(failed) > len(needing) / 2  # the fault was felt
    for record in failed:
        assert_unavailable(record[3])
    # No write answered 201 is lost, and reads after the recovery are fresh.
    created = {r[3].json()["title"] for r in records if r[0] == "write" and r[3].status_code == 201}
    stored = {title for (title,) in rows(postgres, database, "SELECT title FROM posts_post")}
    assert created <= stored
    detail = f"{server.url}/api/posts/{own}/"
    assert requests.get(detail, timeout=HTTP_TIMEOUT).json()["title"] == "own"  # cached again
    patched = requests.patch(detail, json={"title": "fresh"}, headers=auth, timeout=HTTP_TIMEOUT)
    assert patched.status_code == 200
    assert requests.get(detail, timeout=HTTP_TIMEOUT).json()["title"] == "fresh"
    last = {"title": "last", "body": "b", "category": "news", "status": "published"}
    assert (
        requests.post(
            f"{server.url}/api/posts/", json=last, headers=auth, timeout=HTTP_TIMEOUT
        ).status_code
        == 201
    )
    listed = requests.get(f"{server.url}/api/posts/", timeout=HTTP_TIMEOUT).json()
    assert listed["results"][0]["title"] == "last"  # the newest write, in the list too


def test_past_its_ttl_an_entry_is_served_stale_while_postgres_is_down_never_after_a_write(
    live, postgres, database
):
    from tests.short_ttl_settings import TTL

    # One worker: a worker that has never checked the outbox serves nothing from the cache once
    # the database is away, and with two this test would not choose which one reads.
    server = live(
        workers=1,
        env={"DATABASE_URL": database, "DJANGO_SETTINGS_MODULE": "tests.short_ttl_settings"},
    )
    (username,) = rows(postgres, database, "SELECT username FROM users_user LIMIT 1")[0]
    auth = token_for(server, username)

    def create(status):
        body = {"title": status, "body": "b", "category": "news", "status": status}
        answer = requests.post(
            f"{server.url}/api/posts/", json=body, headers=auth, timeout=HTTP_TIMEOUT
        )
        return f"{server.url}/api/posts/{answer.json()['id']}/"

    kept, written, draft = create("published"), create("published"), create("draft")
    for url in (kept, written):  # cached: a hit
        wait_until(
            lambda url=url: requests.get(url, timeout=HTTP_TIMEOUT).headers.get("X-Cache") == "HIT"
        )
    assert requests.get(draft, headers=auth, timeout=HTTP_TIMEOUT).status_code == 200  # cached
    assert requests.get(draft, timeout=HTTP_TIMEOUT).status_code == 404
    patched = requests.patch(written, json={"title": "new"}, headers=auth, timeout=HTTP_TIMEOUT)
    assert patched.status_code == 200  # its entry and stale copy are gone
    postgres.kill()
    try:
        time.sleep(TTL + 0.5)  # every entry is past its TTL, within CACHE_STALE_IF_ERROR
        stale = requests.get(kept, timeout=HTTP_TIMEOUT)
        assert stale.status_code == 200 and stale.headers["X-Cache"] == "STALE", stale.text
        assert stale.json()["title"] == "published" and int(stale.headers["Age"]) >= TTL
        assert_unavailable(requests.get(written, timeout=HTTP_TIMEOUT))  # invalidated: not served
        assert requests.get(draft, timeout=HTTP_TIMEOUT).status_code == 404  # still hidden
    finally:
        postgres.start()
    wait_until(
        lambda: requests.get(kept, timeout=HTTP_TIMEOUT).headers.get("X-Cache") in ("HIT", "MISS"),
        interval=0.2,
    )
    wait_until(lambda: requests.get(written, timeout=HTTP_TIMEOUT).status_code == 200)
    assert requests.get(written, timeout=HTTP_TIMEOUT).json()["title"] == "new"  # not stale
