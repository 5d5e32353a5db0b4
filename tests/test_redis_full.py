"""Redis at ``maxmemory`` under ``noeviction`` (SPEC 10.7): Redis refuses every write that could
grow memory (-OOM), and the cache keeps serving what it has. A private redis-server per test
(CONFIG SET on it alone); the shared Redis is never touched."""

import pytest
import redis as redis_py

from caching.core import keys
from caching.outbox.models import OutboxEntry
from caching.reads.get_or_load import get_or_load
from caching.redis import policy
from posts.cache import post_key
from tests.conftest import data, entry
from tests.factories import make_post, make_user

pytestmark = pytest.mark.django_db(transaction=True)


FILLER = 2 << 20  # bytes of filler in DB 1


def fill(server, margin: int = 256 << 10) -> None:
    """Fill DB 1 of ``server`` with ``FILLER`` bytes and put ``maxmemory`` (``noeviction``)
    ``margin`` below the memory now used: Redis refuses every write that may grow memory, and
    the margin keeps it so while connection buffers come and go."""
    admin = server.client()
    admin.config_set("maxmemory-policy", "noeviction")
    filler = server.client(db=1)
    for n in range(FILLER // 16384):
        filler.set(f"filler:{n}", b"x" * 16384)
    admin.config_set("maxmemory", admin.info("memory")["used_memory"] - margin)
    with pytest.raises(redis_py.OutOfMemoryError):
        filler.set("one-more", b"x")


def free(server) -> None:
    server.client(db=1).flushdb()  # the private server's filler DB only


def test_a_full_redis_serves_its_hits_loads_misses_and_takes_writes(api, as_user, private_redis):
    author = make_user()
    post = make_post(author, title="v1", category="full")
    detail, listed = f"/api/posts/{post.pk}/", "/api/posts/?category=full"
    for url in (detail, listed):
        api.get(url)
        assert api.get(url)["X-Cache"] == "HIT"
    fill(private_redis)

    for url in (detail, listed):  # a hit does not depend on counting it
        response = api.get(url)
        assert response.status_code == 200 and response["X-Cache"] == "HIT", url
    for url in (
        f"/api/users/{author.pk}/",
        "/api/posts/?category=never-read",
    ):  # misses: loaded, not stored
        for _ in range(2):
            missed = api.get(url)
            assert missed.status_code == 200 and missed["X-Cache"] == "MISS", url
    assert api.get("/api/health/").json() == {"database": "ok", "cache": "full"}

    assert as_user(author).patch(detail, {"title": "v2"}, format="json").status_code == 200
    assert (
        OutboxEntry.objects.count() == 0
    )  # delivered: UNLINK and the generation's DEL need no memory
    for _ in range(3):
        assert api.get(detail).json()["title"] == "v2"
        assert api.get(listed).json()["results"][0]["title"] == "v2"
    assert policy.breaker().closed() and policy.breaker().failures == 0

    free(private_redis)
    assert api.get("/api/health/").json() == {"database": "ok", "cache": "ok"}
    for url in (detail, listed):
        api.get(url)
        response = api.get(url)
        assert response["X-Cache"] == "HIT" and "v2" in response.content.decode(), url


def test_a_load_that_finds_redis_full_gives_its_lease_up(private_redis, db):
    """The lease was taken before Redis filled up; the store is refused, and the lease is
    deleted at once rather than left to expire, so that waiters load instead of waiting."""
    key = post_key(123456)

    def loader():
        fill(private_redis)
        return entry({"id": 123456})

    result = get_or_load(key, loader)
    assert result.status == "MISS" and data(result) == {"id": 123456}
    assert not private_redis.client().exists(keys.physical(key))  # neither the value nor the lease
    assert get_or_load(key, lambda: entry({"id": 123456})).status == "MISS"
    assert policy.breaker().closed() and policy.breaker().failures == 0
