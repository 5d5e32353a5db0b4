"""Races against a live multi-process server (the production start, 2 workers x 32 threads):
read-your-writes under a torture of concurrent readers and writers (SPEC 8.1, 8.3), and
stampedes (SPEC 8.4)."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from caching.ops import keyspace
from caching.ops import stats as counters
from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT, wait_until

pytestmark = pytest.mark.live

THREADS = {"WEB_THREADS": "32"}
WRITES = int(os.environ.get("TORTURE_WRITES", "40"))  # per post; raise it for a longer run
POSTS, READERS = 4, 8


def version(body: dict) -> int:
    return int(body["title"].removeprefix("v"))


def test_no_read_older_than_the_last_returned_write(live):
    authors = [make_user() for _ in range(POSTS)]
    posts = [make_post(author, title="v0", category="race") for author in authors]
    token = Token.objects.create(user=make_user(is_staff=True)).key
    server = live(workers=2, env=THREADS)
    returned: dict[int, list[tuple[int, float]]] = {p.pk: [] for p in posts}  # post -> (k, when)
    reads: list[tuple[int, str, float, int]] = []  # (post, view, started, version seen)
    stop = threading.Event()
    errors: list[str] = []

    def writer(post):
        with requests.Session() as s:
            s.headers["Authorization"] = f"Token {token}"
            for k in range(1, WRITES + 1):
                response = s.patch(
                    f"{server.url}/api/posts/{post.pk}/",
                    json={"title": f"v{k}"},
                    timeout=HTTP_TIMEOUT,
                )
                if response.status_code != 200:
                    errors.append(f"write {k}: {response.status_code}")
                returned[post.pk].append((k, time.monotonic()))

    def reader(n):
        with requests.Session() as s:
            i = n
            while not stop.is_set():
                post = posts[i % POSTS]
                i += 1
                for view, url in (
                    ("detail", f"/api/posts/{post.pk}/"),
                    ("list", f"/api/posts/?author={post.author_id}"),
                ):
                    started = time.monotonic()
                    response = s.get(server.url + url, timeout=HTTP_TIMEOUT)
                    if response.status_code != 200:
                        errors.append(f"read {url}: {response.status_code}")
                        continue
                    body = response.json()
                    reads.append(
                        (
                            post.pk,
                            view,
                            started,
                            version(body if view == "detail" else body["results"][0]),
                        )
                    )

    with ThreadPoolExecutor(POSTS + READERS) as pool:
        readers = [pool.submit(reader, n) for n in range(READERS)]
        for future in [pool.submit(writer, p) for p in posts]:
            future.result()
        stop.set()
        for future in readers:
            future.result()

    assert not errors, errors[:5]
    stale = []
    for pk, view, started, seen in reads:
        done_before = [k for k, when in returned[pk] if when < started]
        if done_before and seen < max(done_before):
            stale.append((pk, view, seen, max(done_before)))
    print(f"\n{len(reads)} reads, {POSTS * WRITES} writes, {len(stale)} stale")
    assert stale == [], f"{len(stale)} stale reads of {len(reads)}, e.g. {stale[:5]}"
    for post in posts:  # once the writers stop, every view shows the last version
        for url in (f"/api/posts/{post.pk}/", f"/api/posts/?author={post.author_id}"):
            body = requests.get(server.url + url, timeout=HTTP_TIMEOUT).json()
            assert version(body if "title" in body else body["results"][0]) == WRITES


def test_a_read_the_instant_a_write_returns_sees_it_whichever_worker_answers(live):
    """With the near cache on, both workers hold the post and its list page; after each write's
    response, four reads start at once on fresh connections (so both workers answer some), and
    every one must show that write: the worker that did not write has consumed the push."""
    post = make_post(make_user(), title="v0", category="instant")
    token = Token.objects.create(user=make_user(is_staff=True)).key
    server = live(workers=2, env=THREADS)
    urls = [f"/api/posts/{post.pk}/", f"/api/posts/?author={post.author_id}"] * 2

    def read(url: str) -> tuple[int, str]:
        response = requests.get(server.url + url, timeout=HTTP_TIMEOUT)  # a new connection
        body = response.json()
        return version(body if "title" in body else body["results"][0]), response.headers["X-Cache"]

    stale, statuses = [], []
    with ThreadPoolExecutor(len(urls)) as pool, requests.Session() as writer:
        writer.headers["Authorization"] = f"Token {token}"
        for _ in range(10):  # warm both workers' near caches
            list(pool.map(read, urls))
        for k in range(1, WRITES + 1):
            response = writer.patch(
                f"{server.url}/api/posts/{post.pk}/", json={"title": f"v{k}"}, timeout=HTTP_TIMEOUT
            )
            assert response.status_code == 200
            for url, (seen, status) in zip(urls, pool.map(read, urls), strict=True):
                statuses.append(status)
                if seen < k:
                    stale.append((k, url, seen, status))
            for _ in range(3):  # hits again (near ones among them) before the next write
                list(pool.map(read, urls))
    print(f"\n{len(statuses)} reads right after {WRITES} writes: {len(stale)} stale")
    assert stale == [], stale[:5]


def test_fifty_concurrent_cold_requests_cause_one_database_load(live):
    post = make_post(make_user(), title="hot", category="race")
    # 64 threads per worker: however the fifty connections spread over the two workers, each
    # gets a thread of its own, so all of them reach the cache together.
    # Waiters wait up to 60 s and the lease lasts 120 s: on a loaded machine the fifty misses may
    # take seconds to arrive, and a waiter that gives up (or a reader that finds the lease
    # expired) loads by itself, by design. The load waits only for the fifty, not for a time.
    server = live(
        workers=2,
        env={"CACHE_LEASE_WAIT_MS": "60000", "CACHE_LEASE_MS": "120000", "WEB_THREADS": "64"},
    )
    keyspace.clear_namespace("post")
    counters.reset_stats()
    # Hold the load back: while this lock is held every query on the posts table waits, so all
    # fifty requests are in flight together, the lease holder's load included.
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
    ) as blocker:
        blocker.execute("LOCK TABLE posts_post IN ACCESS EXCLUSIVE MODE")
        barrier = threading.Barrier(50)

        def read(_):
            barrier.wait()
            return requests.get(f"{server.url}/api/posts/{post.pk}/", timeout=HTTP_TIMEOUT)

        with ThreadPoolExecutor(50) as pool:
            futures = [pool.submit(read, n) for n in range(50)]
            wait_until(
                lambda: counters.stats(with_keys=False)["namespaces"]["post"]["misses"] == 50
            )
            blocker.rollback()  # releases the lock
            responses = [f.result() for f in futures]
    assert all(r.status_code == 200 and r.json()["title"] == "hot" for r in responses)
    stats = counters.stats(with_keys=False)["namespaces"]["post"]
    print(f"\n50 concurrent cold requests: {stats['loads']} database load(s)")
    assert stats["loads"] == 1 and stats["misses"] == 50
