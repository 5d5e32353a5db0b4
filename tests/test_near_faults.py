"""The near cache exact under Redis faults (SPEC 8.1, 8.6): once a write has returned 200, no read
shows the old value, whatever Redis does meanwhile (docs/near-cache.md, "Faults").

Two servers share a private redis-server: a writer W and a reader R, one worker each, so a test
knows which process serves what. In every episode R first serves the post from its near cache
(checked: twenty reads in a row send Redis almost no script), then the fault is made for real,
W's PATCH returns 200, and every read on R from then on must show the new title, during the
fault and after it. The servers check the outbox only when they have a reason to doubt the
cache (``tests/near_settings.py``): the one-second check by the clock would end a stale stretch,
and it is the near cache's own proof that is under test.
"""

import time
from dataclasses import dataclass, field

import pytest
import requests
from rest_framework.authtoken.models import Token

from caching.core import keys
from posts.models import Post
from tests.factories import make_post, make_user
from tests.live import HTTP_TIMEOUT, LiveServer, free_port, wait_until
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

EPISODES = 10
NEAR_READS = 20  # reads in a row that must send Redis at most a hit-count flush or two
AFTER_S = 0.3  # how long R is read after each step (the heartbeat window is 0.2 s)


@dataclass
class Pair:
    writer: LiveServer
    reader: LiveServer
    redis: RedisServer
    post: Post
    token: str
    expected: str = "v0"
    episode: int = 0
    reads: int = 0
    stale: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/api/posts/{self.post.pk}/"

    def read(self) -> requests.Response:
        """One read on R, checked against the title W returned last."""
        response = requests.get(self.reader.url + self.path, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text[:300]
        self.reads += 1
        title = response.json()["title"]
        if title != self.expected:
            self.stale.append((self.episode, title, self.expected, response.headers["X-Cache"]))
        return response

    def read_for(self, seconds: float = AFTER_S) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.read()

    def write(self) -> None:
        """W's PATCH to the next title; from its 200 on, R must show it."""
        title = f"v{self.episode}"
        response = requests.patch(
            self.writer.url + self.path,
            json={"title": title},
            headers={"Authorization": f"Token {self.token}"},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text[:300]
        self.expected = title

    def hold_near(self) -> None:
        """Start an episode once R serves the post from its near cache."""
        self.episode += 1
        r = self.redis.client()

        def held() -> bool:
            for _ in range(3):  # a miss, a hit from Redis (kept near), a near hit
                self.read()
            if not reader_trackers(self):  # connected by a read, or at most a second later
                return False
            before = scripts_run(r)
            for _ in range(NEAR_READS):
                self.read()
            return scripts_run(r) - before <= 2

        wait_until(held, interval=0.05, message="R does not serve the post from its near cache")

    def assert_no_stale(self) -> None:
        assert self.episode, "no episode ran"
        assert not self.stale, (
            f"{len(self.stale)} stale reads of {self.reads} in {self.episode} episodes "
            f"(episode, seen, expected, X-Cache): {self.stale[:5]}"
        )
        print(f"\n{self.episode} episodes, {self.reads} reads on R, 0 stale")


def scripts_run(r) -> int:
    stats = r.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))


def reader_trackers(pair: Pair) -> list[int]:
    """The ids of R's tracking connections (named after its worker's PID)."""
    (worker,) = pair.reader.worker_pids()
    name = f"near-cache-tracking-{worker}-"
    rows = pair.redis.client().client_list()
    return [row["id"] for row in rows if row.get("name", "").startswith(name)]


@pytest.fixture
def pair(live, private_redis, request):
    """W and R on the private Redis; ``request.param``: R's extra environment."""
    author = make_user()
    post = make_post(author, title="v0")
    env = {
        "REDIS_URL": private_redis.url,
        "DJANGO_SETTINGS_MODULE": "tests.near_settings",
        "API_WRITE_RATE": "none",
        "CACHE_BREAKER_COOLDOWN_MS": "300",
    }
    writer = live(workers=1, env=env)
    reader = live(workers=1, env={**env, **getattr(request, "param", {})})
    token = Token.objects.create(user=author).key
    return Pair(writer, reader, private_redis, post, token)


def test_a_tracking_connection_closed_behind_a_waiting_reply(pair):
    """R is idle: its upkeep thread's last heartbeat reply waits unread in the socket, in front
    of the close. The drain reads to the end and sees the close."""
    for _ in range(EPISODES):
        pair.hold_near()
        r = pair.redis.client()
        for tracker in reader_trackers(pair):
            r.execute_command("CLIENT", "KILL", "ID", tracker)
        pair.write()  # its invalidation reaches Redis, but not R
        pair.read_for()
    pair.assert_no_stale()


def test_writes_paused_while_pings_are_answered(pair):
    """``CLIENT PAUSE WRITE`` (the start of a coordinated failover): W's invalidation blocks until
    its timeout and stays in the outbox; Redis still answers PING."""
    r = pair.redis.client()
    for _ in range(EPISODES):
        pair.hold_near()
        r.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
        try:
            pair.write()
            pair.read_for()
        finally:
            r.execute_command("CLIENT", "UNPAUSE")
        pair.read_for()  # after the pause: the outbox entry is delivered before a hit
    pair.assert_no_stale()


def test_a_node_demoted_to_a_replica(pair):
    """``REPLICAOF`` a primary that does not exist: Redis refuses every write (READONLY) and
    answers PING; then it is made a primary again."""
    r = pair.redis.client()
    for _ in range(EPISODES):
        pair.hold_near()
        r.execute_command("REPLICAOF", "127.0.0.1", free_port())
        try:
            pair.write()
            pair.read_for()
        finally:
            r.execute_command("REPLICAOF", "NO", "ONE")
        pair.read_for()
    pair.assert_no_stale()


def test_redis_restarted_on_the_same_port(pair):
    for _ in range(EPISODES):
        pair.hold_near()
        pair.redis.kill()
        try:
            pair.write()
            pair.read_for()
        finally:
            pair.redis.start()
        pair.read_for()
    pair.assert_no_stale()


@pytest.mark.parametrize(
    "pair", [{"DJANGO_SETTINGS_MODULE": "tests.near_settings_small_buffer"}], indirect=True
)
def test_a_burst_behind_a_small_receive_buffer(pair):
    """R's tracking socket holds a few KiB (``tests/near_settings_small_buffer.py``): a burst of
    invalidations fills it, Redis keeps the rest, W's invalidation waits behind it. A drain
    that ends in EAGAIN has not seen it."""
    r = pair.redis.client()
    burst = {keys.tag("post", 0) + f"post:burst:{n}": "x" for n in range(3000)}  # ~150 KB push
    for _ in range(5):
        pair.hold_near()
        r.mset(burst)
        pair.write()
        pair.read_for()
    pair.assert_no_stale()
