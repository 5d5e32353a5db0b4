"""Redis Cluster (a real 6-node cluster from scripts/redis_cluster.py): selected by the URL
alone, clears and counts that visit every primary, scripts reloaded where a node lost them, and
a primary killed, demoted or giving a slot away under reads and writes. The rest of the suite
runs on a cluster too (the second pass of scripts/test.sh)."""

import json
import threading
import time

import pytest
import redis
import requests
from django.core.exceptions import ImproperlyConfigured
from rest_framework.authtoken.models import Token

from caching.core import keys
from caching.ops import keyspace
from caching.ops import stats as counters
from caching.outbox.models import OutboxEntry
from caching.reads.get_or_load import get_or_load
from caching.redis import replication
from caching.redis.cluster import key_slot_of
from caching.redis.connection import ConnectionFactory
from caching.redis.connection import client as redis_client
from posts.cache import post_key, posts_page_key
from posts.models import Post
from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT, free_port, wait_until
from users.cache import user_key


@pytest.fixture
def on_cluster(cluster, settings):
    """The module's cluster as this test's cache."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [cluster.url]}}
    return cluster


def keys_on(cluster, port: int, pattern: str) -> list[bytes]:
    return list(cluster.node(port).scan_iter(match=pattern, count=1000))


def test_the_url_alone_selects_a_cluster_client(on_cluster):
    assert isinstance(redis_client(), redis.cluster.RedisCluster)
    assert redis_client().ping()
    # Any reachable node bootstraps it, a dead one in the list included.
    url = on_cluster.url.replace("redis+cluster://", "redis+cluster://127.0.0.1:1,")
    assert ConnectionFactory({}).connect(url).ping()


@pytest.mark.parametrize(
    "url", ["redis+cluster://", "redis+cluster://127.0.0.1", "redis+cluster://host:port"]
)
def test_a_malformed_cluster_url_is_a_configuration_error(url):
    with pytest.raises(ImproperlyConfigured, match="host:port"):
        ConnectionFactory({}).connect(url)


def test_flush_and_counts_visit_every_primary_and_report_true_totals(on_cluster):
    r = redis_client()
    posts = [keys.physical(post_key(pk)) for pk in range(1, 3001)]
    users = [keys.physical(user_key(pk)) for pk in range(1, 501)]
    pages = [keys.in_generation(posts_page_key(n), 7) for n in range(1, 201)]
    pipe = r.pipeline(transaction=False)
    for name in posts + users + pages:
        pipe.set(name, b"x", ex=600)
    pipe.execute()
    pattern = keys.namespace_pattern("post")
    per_primary = {port: len(keys_on(on_cluster, port, pattern)) for port in on_cluster.primaries()}
    assert len(per_primary) == 3 and all(n > 300 for n in per_primary.values()), per_primary
    assert sum(per_primary.values()) == 3000

    assert keyspace.count_keys() == {
        "post": 3000,
        "posts": 200,
        "reader": 0,
        "user": 500,
        "users": 0,
    }
    assert keyspace.clear_namespace("post", dry_run=True) == 3000
    assert keyspace.clear_namespace("post") == 3000
    assert all(not keys_on(on_cluster, port, pattern) for port in on_cluster.primaries())
    assert keyspace.count_keys() == {"post": 0, "posts": 200, "reader": 0, "user": 500, "users": 0}
    # and through the API, as an operator would
    assert keyspace.clear_namespace("posts") == 200 and keyspace.clear_namespace("user") == 500


def test_counters_add_up_over_shards_and_nodes(on_cluster, db):
    from tests.conftest import entry

    pks = range(1, 41)  # 40 keys over 40 shards, on all three primaries
    for pk in pks:
        get_or_load(post_key(pk), lambda pk=pk: entry({"id": pk}))
        get_or_load(post_key(pk), lambda: pytest.fail("a hit must not load"))
    get_or_load(posts_page_key(1), lambda: entry([]))
    row = counters.stats()["namespaces"]["post"]
    assert (row["hits"], row["misses"], row["loads"], row["keys"]) == (40, 40, 40, 40)
    assert counters.stats()["namespaces"]["posts"]["misses"] == 1
    assert sum(m["hits"] + m["misses"] for m in counters.history(2)) == 81
    counters.reset_stats()
    assert counters.stats(with_keys=False)["total"] == {
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "stale": 0,
    }
    assert sum(m["hits"] + m["misses"] for m in counters.history(2)) == 0


@pytest.mark.own_redis
@pytest.mark.django_db(transaction=True)
def test_an_unreachable_cluster_with_a_backlog_serves_from_the_database(api, settings):
    """A worker that starts while no node answers: the cluster client cannot even be built.
    Reads with an outbox backlog (replayed first) and writes still answer, from PostgreSQL."""
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": [f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"],
        }
    }
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "OUTBOX_CHECK_AFTER_MS": 0}
    post = make_post(make_user(), title="v1")  # the invalidations stay in the outbox
    assert OutboxEntry.objects.exists()
    response = api.get(f"/api/posts/{post.pk}/")
    assert response.status_code == 200 and response["X-Cache"] == "BYPASS"
    assert api.get("/api/health/").json()["cache"] == "unavailable"


@pytest.fixture(params=["single", "cluster"])
def own_server(request):
    """A Redis of this test's own, single or cluster, which it may flush."""
    return request.getfixturevalue("private_redis" if request.param == "single" else "on_cluster")


@pytest.mark.own_redis
@pytest.mark.django_db(transaction=True)
def test_scripts_are_reloaded_where_a_node_lost_them(api, own_server):
    """A restarted or newly promoted node has an empty script cache (NOSCRIPT): reads and
    invalidations load the scripts again (SCRIPT FLUSH on the test's own server)."""
    post = make_post(make_user(), title="v1")
    url, listing = f"/api/posts/{post.pk}/", "/api/posts/"
    for read in (url, listing):
        api.get(read)
        assert api.get(read)["X-Cache"] == "HIT"
    redis_client().script_flush()
    assert api.get(url)["X-Cache"] == "HIT"  # READ, loaded again
    redis_client().script_flush()
    post.title = "v2"
    post.save()  # its delivery BUMPs the posts generation: NOSCRIPT inside a pipeline
    assert OutboxEntry.objects.count() == 0  # delivered, not left for replay
    for read in (url, listing):
        response = api.get(read)
        assert response["X-Cache"] == "MISS" and "v2" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_invalidation_its_replica_never_got_survives_the_failover(
    private_cluster, api, monkeypatch
):
    """Replication is asynchronous: a primary acknowledges an UNLINK and may die before its
    replica has it, and the promoted replica then serves the entry the write removed. A write's
    invalidation counts as delivered only once a replica acknowledged it (WAIT); until then it
    stays in the outbox and is replayed after the failover."""
    # The replica was last seen by make_post's delivery: however long this machine takes to
    # reach the update, the primary is still one that had a replica, not one written to
    # without waiting (as it would be GRACE_S = 5 s after its replica was last seen).
    monkeypatch.setattr(replication, "GRACE_S", 3600.0)
    post = make_post(make_user(), title="v1")
    url = f"/api/posts/{post.pk}/"
    api.get(url)
    assert api.get(url)["X-Cache"] == "HIT"
    r = redis_client()
    primary = r.get_node_from_key(keys.physical(post_key(post.pk))).port
    replica = private_cluster.replica_of(primary)
    wait_until(lambda: private_cluster.reader(replica).exists(keys.physical(post_key(post.pk))))

    private_cluster.freeze(replica)  # so that it cannot reconnect...
    private_cluster.node(primary).client_kill_filter(_type="replica")  # ...to a link cut here
    try:
        queued = OutboxEntry.objects.count()
        Post.objects.filter(pk=post.pk).update(
            title="v2"
        )  # its invalidation: UNLINK on the primary only
        assert OutboxEntry.objects.count() == queued + 1  # no replica acknowledged it
    finally:
        private_cluster.kill(primary)
        private_cluster.thaw(replica)
    slot = key_slot_of(keys.physical(post_key(post.pk)))
    wait_until(
        lambda: (
            private_cluster.serving(slot) == {replica} and private_cluster.healthy(replicas=False)
        ),
        interval=0.05,
    )
    assert private_cluster.reader(replica).exists(
        keys.physical(post_key(post.pk))
    )  # the stale entry, promoted

    wait_until(lambda: api.get(url)["X-Cache"] != "BYPASS", interval=0.05)  # breaker closed again
    assert api.get(url).json()["title"] == "v2"
    assert api.get(url)["X-Cache"] == "HIT"


@pytest.mark.live
@pytest.mark.parametrize("change", ["kill", "failover", "migrate"])
def test_a_topology_change_under_reads_and_writes(private_cluster, live, capsys, change):
    """Mid-traffic, with every worker's near cache full, the primary holding the posts list (and
    a share of the details) dies (``kill``), is demoted by a coordinated failover of its replica
    (``failover``: it stays up, a replica now), or gives the list's slot to another primary with
    ``MIGRATE`` (``migrate``). Every request still answers 200; no read ever shows a title older
    than the last write returned before it started; the cache serves hits again."""
    author = make_user()
    token = Token.objects.create(user=author).key
    posts = [
        make_post(author, title="v0", category="failover") for _ in range(24)
    ]  # two list pages
    r = redis_client()
    victim = r.get_node_from_key(keys.generation("posts")).port
    on_victim = [
        p.pk for p in posts if r.get_node_from_key(keys.physical(post_key(p.pk))).port == victim
    ]
    server = live(
        workers=2,
        # The writer writes until a condition is met: how many writes that takes depends on the
        # machine's speed, so no write rate may cut it short (throttling is test_security's).
        env={
            "REDIS_URL": private_cluster.url,
            "CACHE_BREAKER_COOLDOWN_MS": "300",
            "API_WRITE_RATE": "none",
            "WEB_THREADS": "8",
        },
    )

    returned: dict[int, list[tuple[int, float]]] = {p.pk: [(0, 0.0)] for p in posts}
    reads: list[
        tuple[int, float, float, int, str, str]
    ] = []  # post, started, ended, version, X-Cache, url
    errors: list[str] = []
    stop = threading.Event()

    def writer():
        with requests.Session() as s:
            s.headers["Authorization"] = f"Token {token}"
            k = 0
            while not stop.is_set():
                k += 1
                for post in posts:
                    response = s.patch(
                        f"{server.url}/api/posts/{post.pk}/",
                        json={"title": f"v{k}"},
                        timeout=HTTP_TIMEOUT,
                    )
                    if response.status_code != 200:
                        errors.append(f"write: {response.status_code} {response.text[:200]}")
                    returned[post.pk].append((k, time.monotonic()))
                time.sleep(0.02)

    def reader(n):
        with requests.Session() as s:
            i = n
            while not stop.is_set():
                post = posts[i % len(posts)]
                i += 1
                for url in (
                    f"/api/posts/{post.pk}/",
                    f"/api/posts/?category=failover&page={1 + i % 2}",
                ):
                    started = time.monotonic()
                    try:
                        response = s.get(server.url + url, timeout=HTTP_TIMEOUT)
                    except requests.RequestException as error:
                        errors.append(f"read {url}: {error}")
                        continue
                    if response.status_code != 200:
                        errors.append(f"read {url}: {response.status_code} {response.text[:200]}")
                        continue
                    body = response.json()
                    rows = body.get("results", [body])
                    if not rows:
                        errors.append(f"read {url}: no rows")
                    for row in rows:
                        reads.append(
                            (
                                row["id"],
                                started,
                                time.monotonic(),
                                int(row["title"][1:]),
                                response.headers["X-Cache"],
                                url,
                            )
                        )

    def guarded(work, *args):
        try:
            work(*args)
        except Exception as error:  # a thread that dies must fail the test, not thin it out
            errors.append(f"{work.__name__} crashed: {error!r}")

    threads = [threading.Thread(target=guarded, args=(writer,))] + [
        threading.Thread(target=guarded, args=(reader, n)) for n in range(4)
    ]
    for thread in threads:
        thread.start()

    def hits_on_every_post_after(moment: float) -> bool:
        return {
            pk
            for pk, started, _, _, cache, _ in reads[-2000:]
            if started > moment and cache == "HIT"
        } >= {p.pk for p in posts}

    try:
        # Traffic in full swing: every post served from the cache, and two rounds of writes.
        began = time.monotonic()
        wait_until(
            lambda: hits_on_every_post_after(began) and len(returned[posts[-1].pk]) > 2,
            interval=0.05,
        )
        killed = time.monotonic()
        slot = key_slot_of(keys.generation("posts"))
        if change == "kill":
            private_cluster.kill(victim)
        elif change == "failover":
            private_cluster.failover(private_cluster.replica_of(victim))
        else:
            target = next(port for port in private_cluster.primaries() if port != victim)
            private_cluster.migrate(slot, victim, target)
        wait_until(
            lambda: (
                victim not in private_cluster.serving(slot)
                and private_cluster.healthy(replicas=False)
            ),
            interval=0.05,
        )
        promoted = time.monotonic()
        wait_until(
            lambda: any(
                started > promoted and cache == "HIT"
                for pk, started, _, _, cache, _ in reads[-200:]
                if pk in on_victim
            ),
            interval=0.05,
        )
        hits_again = time.monotonic()
        # Keep going until every post has been served from the cache again, each read checked.
        wait_until(lambda: hits_on_every_post_after(hits_again), interval=0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert not errors, errors[:5]
    stale = [
        (
            pk,
            seen,
            max(k for k, when in returned[pk] if when < started),
            url,
            cache,
            round(started - killed, 3),
        )
        for pk, started, _, seen, cache, url in reads
        if seen < max(k for k, when in returned[pk] if when < started)
    ]
    assert not stale, (
        f"{len(stale)} stale reads (post, seen, expected, url, X-Cache, since kill), e.g. "
        f"{stale[:3]}, {stale[len(stale) // 2 :][:3]}, {stale[-3:]}; "
        f"promoted {promoted - killed:.2f}"
    )
    outage = [cache for _, started, _, _, cache, _ in reads if killed <= started < hits_again]
    after = [cache for _, started, _, _, cache, _ in reads if started >= hits_again]
    assert "HIT" in after
    logged = [json.loads(line).get("event") for line in server.log.read_text().splitlines()
              if line.startswith("{")]  # fmt: skip
    events = {
        name: logged.count(name)
        for name in ("cache_degraded", "invalidation_queued", "outbox_replayed", "cache_recovered")
    }
    with capsys.disabled():
        print(
            f"\n{change}: {len(reads)} rows read, {sum(len(v) - 1 for v in returned.values())} "
            "writes, 0 errors, 0 stale;"
            f" the slot served elsewhere {promoted - killed:.2f} s after the change, hits on the"
            f" old primary's keys again after {hits_again - killed:.2f} s; during that time"
            f" {outage.count('BYPASS')} BYPASS,"
            f" {outage.count('HIT')} HIT, {outage.count('MISS')} MISS rows; server log: {events}"
        )
