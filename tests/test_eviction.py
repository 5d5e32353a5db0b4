"""Eviction torture (SPEC 10.7): Redis with a small ``maxmemory`` and an eviction policy, so any key
the project wrote (a value, a lease, a list's generation counter, a stats hash, a history bucket)
may vanish at any moment. A flood of never-matching filters fills it while a writer updates a hot
post through the API and readers check that nothing older than the last returned write is served
(SPEC 8.1, 8.3), that no read fails or bypasses the cache, and that Redis did evict.

On a private redis-server (CONFIG SET on it alone) behind the production server. Besides Redis's own
evictions, a thread deletes the keys an LRU rarely picks because they are read all the time (the
generation counter, the hot detail or its lease, the stats hashes): the same as their eviction.
"""

import itertools
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.authtoken.models import Token

from caching.core import keys
from posts.cache import POSTS, post_key
from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

POLICIES = os.environ.get("EVICTION_POLICIES", "volatile-lru,allkeys-lru").split(",")
FLOODERS, READERS = 12, 4
FLOOD = int(os.environ.get("EVICTION_FLOOD", "4000"))  # never-matching filters requested, in all
WRITES = int(
    os.environ.get("EVICTION_WRITES", "40")
)  # at least; the writer goes on until the flood ends
HEADROOM = 512 << 10  # maxmemory: the memory used once warm, plus this
TIME_LIMIT = 300.0  # seconds for the whole torture: generous (about 15 s on an idle 2-core machine)


def version(body: dict) -> int:
    return int(body["title"].removeprefix("v"))


@pytest.mark.parametrize("policy", POLICIES)
def test_every_guarantee_holds_while_redis_evicts(live, private_redis, policy):
    author = make_user()
    post = make_post(author, title="v0", category="hot")
    for n in range(5):
        make_post(make_user(), title=f"other {n}", category="hot")
    token = Token.objects.create(user=author).key
    # Redis's answers may take longer than the 250 ms default when this test shares two cores
    # with other work: a slow answer here is CPU starvation, not an outage, and this test is
    # about eviction (tests/test_faults.py covers a Redis that does not answer).
    server = live(
        workers=2,
        env={
            "REDIS_URL": private_redis.url,
            "CACHE_REDIS_TIMEOUT_MS": "5000",
            "API_WRITE_RATE": "none",  # the writer goes on until the flood ends: no 429s
            "WEB_THREADS": "8",
        },
    )
    detail, listed = f"{server.url}/api/posts/{post.pk}/", f"{server.url}/api/posts/?category=hot"
    with ThreadPoolExecutor(FLOODERS) as pool:  # every connection open before memory is measured
        list(
            pool.map(
                lambda url: requests.get(url, timeout=HTTP_TIMEOUT), [detail, listed] * FLOODERS
            )
        )
    admin = private_redis.client()
    admin.config_set("maxmemory-policy", policy)
    admin.config_set("maxmemory", admin.info("memory")["used_memory"] + HEADROOM)

    returned: list[tuple[int, float]] = [(0, 0.0)]  # (version k, when the PATCH returned)
    seen: list[tuple[str, float, int]] = []  # (view, read started, version shown)
    statuses: dict[str, int] = {}
    errors: list[str] = []
    health: dict[str, int] = {}
    done, flooded = threading.Event(), threading.Event()  # the writer has stopped; so has the flood
    flooders_left = itertools.count()
    deadline = time.monotonic() + TIME_LIMIT
    lock = threading.Lock()
    flood_numbers = itertools.count()

    def get(session, url):
        response = session.get(url, timeout=HTTP_TIMEOUT)
        with lock:
            if response.status_code != 200:
                errors.append(f"GET {url}: {response.status_code}")
            statuses[response.headers.get("X-Cache", "none")] = (
                statuses.get(response.headers.get("X-Cache", "none"), 0) + 1
            )
        return response

    def shown(view, response) -> int:
        if view == "detail":
            return version(response.json())
        return next(version(row) for row in response.json()["results"] if row["id"] == post.pk)

    def check(session, view, url):
        started = time.monotonic()
        response = get(session, url)
        if response.status_code == 200:
            with lock:
                seen.append((view, started, shown(view, response)))

    def guarded(fn):
        def run():
            try:
                fn()
            except Exception as error:  # noqa: BLE001 - reported as a failure of the test
                errors.append(f"{fn.__name__}: {error!r}")
                done.set()

        return run

    def writer():
        with requests.Session() as s:
            s.headers["Authorization"] = f"Token {token}"
            for k in itertools.count(1):
                if k > WRITES and flooded.is_set():
                    break
                if time.monotonic() > deadline:
                    errors.append(f"time limit reached after {k - 1} writes")
                    break
                response = s.patch(detail, json={"title": f"v{k}"}, timeout=HTTP_TIMEOUT)
                if response.status_code != 200:
                    errors.append(f"PATCH v{k}: {response.status_code}")
                with lock:
                    returned.append((k, time.monotonic()))
                check(s, "detail", detail)
                check(s, "list", listed)
                answer = s.get(f"{server.url}/api/health/", timeout=HTTP_TIMEOUT).json()["cache"]
                with lock:
                    health[answer] = health.get(answer, 0) + 1
                time.sleep(0.05)
        done.set()

    def reader():
        with requests.Session() as s:
            while not done.is_set():
                check(s, "detail", detail)
                check(s, "list", listed)

    def flooder():
        with requests.Session() as s:
            while not done.is_set() and (n := next(flood_numbers)) < FLOOD:
                get(
                    s,
                    f"{server.url}/api/posts/"
                    f"?author={900_000_000 + n}&category=zzzz-nonexistent-{n}",
                )
        if next(flooders_left) == FLOODERS - 1:
            flooded.set()

    def evictor():
        """Deletes what an LRU seldom evicts (read on every request) at random moments."""
        hot = [
            keys.generation(POSTS),
            keys.physical(post_key(post.pk)),
            keys.stats(POSTS),
            keys.stats_of(post_key(post.pk)),
        ]
        while not done.is_set():
            time.sleep(random.uniform(0.005, 0.05))
            admin.delete(random.choice(hot))

    threads = [threading.Thread(target=guarded(writer))]
    threads += [threading.Thread(target=guarded(reader)) for _ in range(READERS)]
    threads += [threading.Thread(target=guarded(flooder)) for _ in range(FLOODERS)]
    threads += [threading.Thread(target=guarded(evictor))]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIME_LIMIT + 30)
    took = time.monotonic() - began

    # A read that began after version k's PATCH returned must show k or later.
    stale = []
    for view, started, shown_version in seen:
        floor = max(k for k, at in returned if at <= started)
        if shown_version < floor:
            stale.append((view, shown_version, floor))
    with requests.Session() as s:
        for url in (detail, listed):
            s.get(url, timeout=HTTP_TIMEOUT)
        after = {url: s.get(url, timeout=HTTP_TIMEOUT) for url in (detail, listed)}
    evicted = admin.info("stats")["evicted_keys"]
    requests_made = sum(statuses.values())
    print(
        f"\n{policy}: {requests_made} requests in {took:.1f} s ({len(seen)} checked reads, "
        f"{len(returned) - 1} writes, "
        f"{min(next(flood_numbers), FLOOD)} flood filters), "
        f"X-Cache {statuses}, evicted keys {evicted}, errors {len(errors)}, stale reads "
        f"{len(stale)}, health {health}"
    )
    assert not errors, errors[:10]
    assert not stale, stale[:10]
    assert statuses.get("BYPASS", 0) == 0
    # Never unavailable. (Full, were it said, would be true: Redis over maxmemory with no key
    # left that its policy may evict, e.g. client buffers eating the small headroom.)
    assert "unavailable" not in health
    last = len(returned) - 1
    assert last >= WRITES
    assert all(response.headers["X-Cache"] == "HIT" for response in after.values())
    assert version(after[detail].json()) == last and shown("list", after[listed]) == last
    assert evicted > 0, "Redis evicted nothing: the torture proved nothing"
