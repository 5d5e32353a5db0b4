"""The near cache on a Redis Cluster (docs/near-cache.md, "On a Redis Cluster"): a tracker per
primary, entries served only through the tracker of their slot's primary now; a lost tracker, a
failover, a moved slot and a slot map that cannot be confirmed each stop the entries they
concern; one breaker per primary; near hits counted once. Writes here come from a client of
their own (another process, as far as the near cache knows), so only Redis's pushes, or the
rules, can drop what this process holds."""

import contextlib
import time

import pytest
import redis
from redis.cluster import RedisCluster

from caching.core import keys
from caching.core.entry import BYPASS, HIT
from caching.core.keys import CacheKey
from caching.core.rules import Changes
from caching.near import tier
from caching.ops import stats as counters
from caching.ops.memory import memory
from caching.outbox.apply import apply
from caching.reads.get_or_load import get_or_load
from caching.redis import replication
from caching.redis.cluster import key_slot_of
from caching.redis.connection import client
from caching.redis.policy import CacheUnavailableError, UnacknowledgedError
from posts.cache import post_key
from tests.conftest import data, entry
from tests.live import ROOT, free_port, wait_until
from tests.test_near import near_hits, until_near


@pytest.fixture
def on_cluster(cluster, settings, db):
    """The module's cluster as this test's cache, a tracker up on every primary."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [cluster.url]}}
    wait_until(lambda: tier.tier().ready() and len(tier.CURRENT.tier.trackers) == 3)
    return cluster


def cluster_settings(settings, started) -> None:
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [started.url]}}
    wait_until(lambda: tier.tier().ready() and len(tier.CURRENT.tier.trackers) == 3)


def primary_of(key: CacheKey) -> str:
    return client().nodes_manager.get_node_from_slot(key_slot_of(keys.physical(key))).name


def one_key_per_primary(first: int) -> dict[str, CacheKey]:
    found: dict[str, CacheKey] = {}
    pk = first
    while len(found) < 3:
        found.setdefault(primary_of(post_key(pk)), post_key(pk))
        pk += 1
    return found


def read(key: CacheKey, value: int = 1):
    return get_or_load(key, lambda: entry({"v": value}))


def served_near(key: CacheKey) -> bool:
    before = near_hits()
    read(key)
    return near_hits() > before


def elsewhere(cluster) -> RedisCluster:
    """A client of the test's own: its writes reach this process only as pushes."""
    return RedisCluster(host="127.0.0.1", port=cluster.primaries()[0])


def test_a_cluster_that_cannot_be_reached_is_read_around(settings, db):
    """No node answers, so no client can even be built: a read, with the near tier on, comes
    from the database (``BYPASS``), not an error; the hit counts wait for a later flush."""

    url = f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [url]}}
    result = read(post_key(1))
    assert (result.status, data(result)) == (BYPASS, {"v": 1})
    near = tier.CURRENT.tier
    near.counts.add(post_key(1))
    tier.flush_counts()  # no primary to count it on: it waits, no error
    assert near.counts._pending == {("post", 1): 1}


def test_hot_hits_on_every_primary_are_served_from_memory(on_cluster, capsys):
    """A hot hit costs no Redis command on a cluster: 600 reads of a key on each primary are
    all near hits; the only commands the nodes (replicas included) run meanwhile are the
    heartbeats, the check and the hit counts' flushes (per second and process, whatever the
    read rate: bench/commandstats.py measures them over a second)."""
    hot = list(one_key_per_primary(910_000).values())
    for key in hot:
        until_near(lambda key=key: read(key))
    nodes = [on_cluster.node(port) for port in on_cluster.alive()]
    for node in nodes:
        node.config_resetstat()
    before, began = near_hits(), time.monotonic()
    for n in range(600):
        read(hot[n % 3])
    elapsed = time.monotonic() - began
    assert near_hits() - before == 600
    calls: dict[str, int] = {}
    for node in nodes:
        for name, stat in node.info("commandstats").items():
            calls[name] = calls.get(name, 0) + stat["calls"]
    data_commands = {name: calls[name] for name in calls if name in {"cmdstat_get", "cmdstat_set"}}
    assert not data_commands, data_commands
    flushes = elapsed / tier.FLUSH_S + 2
    assert calls.get("cmdstat_evalsha", 0) <= len(hot) * flushes, calls  # the HITS flushes
    total = sum(calls.values()) - calls.get("cmdstat_info", 0)  # the test's own INFO
    with capsys.disabled():
        print(
            f"\n600 near hits in {elapsed:.2f} s on the cluster: {total} commands on its 6 nodes "
            f"({total / 600:.3f} per hit): {dict(sorted(calls.items()))}"
        )


def test_a_killed_tracker_stops_only_its_primarys_entries(on_cluster):
    """One primary's tracking connection killed, then a key of that primary deleted by another
    client: the push never arrives, so the entry must not be served; the other primaries' keys
    stay near."""
    placed = one_key_per_primary(920_000)
    for key in placed.values():
        until_near(lambda key=key: read(key))
    victim, key = next(iter(placed.items()))
    node = client().get_redis_connection(client().get_node(node_name=victim))
    tracker = tier.CURRENT.tier.trackers[victim]
    for row in node.client_list():
        if row.get("name") == tracker.name:
            node.execute_command("CLIENT", "KILL", "ID", row["id"])
    elsewhere(on_cluster).unlink(keys.physical(key))
    assert data(read(key, 2)) == {"v": 2}
    near = tier.CURRENT.tier
    for name, other in placed.items():  # the other primaries' entries are still held
        if name != victim:
            assert near.cache.get(keys.physical(other), None, near.trackers[name].generation)
    wait_until(lambda: served_near(key))  # its tracker is back


def test_the_writers_own_near_copies_go_before_the_write_returns(on_cluster):
    """The push to this process travels on its tracking connection and may trail the write's
    reply: with every tracker held (nothing drained), the write's return already finds the
    near copies gone."""
    placed = list(one_key_per_primary(930_000).values())
    for key in placed:
        until_near(lambda key=key: read(key))
    near = tier.CURRENT.tier
    trackers = list(near.trackers.values())
    for tracker in trackers:
        tracker._lock.acquire()  # nothing is drained: the pushes wait in the sockets
    try:
        apply(Changes(drop=set(placed)))
        held = [
            near.cache.get(keys.physical(k), None, t.generation) for k in placed for t in trackers
        ]
    finally:
        for tracker in trackers:
            tracker._lock.release()
    assert held == [None] * len(held)


def test_near_hits_are_counted_once_when_a_node_lost_its_scripts(on_cluster):
    """The flush is one pipeline per primary; a primary that lost its scripts (restarted,
    promoted) answers NOSCRIPT, and only its scripts run again: no hit is counted twice on the
    others, none lost."""
    placed = list(one_key_per_primary(940_000).values())
    for key in placed:
        until_near(lambda key=key: read(key))
    tier.flush_counts()
    counters.reset_stats()
    hits = 0
    for _ in range(20):
        for key in placed:
            assert served_near(key)
            hits += 1
    on_cluster.node(int(primary_of(placed[0]).rpartition(":")[2])).script_flush()
    tier.flush_counts()
    row = counters.stats(with_keys=False)["namespaces"]["post"]
    assert (row["hits"], row["misses"]) == (hits, 0)


def test_a_slot_map_that_cannot_be_confirmed_serves_nothing_near(on_cluster):
    """The check's CLUSTER SLOTS refused on every node: the map cannot be confirmed, so the tier
    empties itself and serves nothing near until a check succeeds again."""
    key = post_key(950_001)
    until_near(lambda: read(key))
    nodes = [on_cluster.node(port) for port in on_cluster.alive()]
    try:
        for node in nodes:
            node.execute_command("ACL", "SETUSER", "default", "-cluster|slots")
        wait_until(lambda: tier.CURRENT.tier.unconfirmed, message="the check still confirms")
        assert len(tier.CURRENT.tier.cache) == 0
        for _ in range(20):
            assert not served_near(key)
    finally:
        for node in nodes:
            node.execute_command("ACL", "SETUSER", "default", "+cluster|slots")
    wait_until(lambda: served_near(key))


@pytest.mark.parametrize("move", ["failover", "migrate"])
def test_a_moved_slot_stops_its_old_primarys_entries(private_cluster, settings, db, move):
    """A coordinated failover (the old primary stays up, a replica now) or a slot moved with
    MIGRATE: then another process's write deletes the key on its new primary (as a write's
    invalidation does: acknowledged by a replica, or queued until it is). The read must not show
    the entry filled from the old one; later the new primary's tracker serves it near again."""
    cluster_settings(settings, private_cluster)
    placed = one_key_per_primary(960_000)
    for key in placed.values():
        until_near(lambda key=key: read(key))
    old, key = next(iter(placed.items()))
    old_port = int(old.rpartition(":")[2])
    if move == "failover":
        private_cluster.failover(private_cluster.replica_of(old_port))
    else:
        target = next(int(name.rpartition(":")[2]) for name in placed if name != old)
        private_cluster.migrate(key_slot_of(keys.physical(key)), old_port, target)
    written = elsewhere(private_cluster)
    name = keys.physical(key)

    def delivered() -> bool:
        try:
            replication.run_durably(written, [(name, ("UNLINK", name))], replica_ack_ms=500)
        except (UnacknowledgedError, redis.RedisError):
            return False  # queued, as a write's would be: delivered on a later try
        return True

    wait_until(delivered)
    assert data(read(key, 2)) == {"v": 2}
    wait_until(lambda: served_near(key), timeout=30)
    assert primary_of(key) != old


def test_an_entry_is_served_only_through_its_slots_primary_now(private_cluster, settings, db):
    """A slot given to another primary without its keys (``Cluster.reassign``): the old
    primary keeps its copy, orphaned, and sends no push; its tracker stays up. A write's delete
    on the new primary finds no key there, so no push either. The entry filled from the old
    primary must not be served: only the slot's primary now may vouch for it."""
    cluster_settings(settings, private_cluster)
    placed = one_key_per_primary(965_000)
    for key in placed.values():
        until_near(lambda key=key: read(key))
    (old, key), (new, _) = list(placed.items())[:2]
    slot = key_slot_of(keys.physical(key))
    # Between DELSLOTS and the new owner the slot is uncovered: with full coverage required, the
    # old primary would answer CLUSTERDOWN (its heartbeat too, losing its tracker: not this test).
    for port in private_cluster.primaries():
        private_cluster.node(port).config_set("cluster-require-full-coverage", "no")
    private_cluster.reassign(slot, int(old.rpartition(":")[2]), int(new.rpartition(":")[2]))
    wait_until(lambda: primary_of(key) == new, message="the client's map never learned it")
    assert elsewhere(private_cluster).unlink(keys.physical(key)) == 0
    assert old in tier.CURRENT.tier.trackers  # nothing told it
    assert data(read(key, 2)) == {"v": 2}


def test_a_value_from_a_slot_on_the_move_is_not_kept(private_cluster, settings, db):
    """While a slot migrates from A to B, a read of a key already moved is answered by B (the
    client follows ASK; its map still names A). B's tracker is down here (as for a primary new
    to the cluster), so nothing B does reaches this process. That value must not be kept near
    as if A had given it: after the move another client deletes the key on B, and the read
    must not show the old value."""
    cluster_settings(settings, private_cluster)
    placed = one_key_per_primary(975_000)
    for key in placed.values():
        until_near(lambda key=key: read(key))
    (a, key), (b, _) = list(placed.items())[:2]
    near = tier.CURRENT.tier
    conn = client().get_redis_connection(client().get_node(node_name=b))
    for row in conn.client_list():
        if row.get("name") == near.trackers[b].name:
            conn.execute_command("CLIENT", "KILL", "ID", row["id"])
    wait_until(lambda: (near.ready() or True) and b not in near.trackers)
    source, target = (private_cluster.node(int(n.rpartition(":")[2])) for n in (a, b))
    ids = {n: node.execute_command("CLUSTER", "MYID") for n, node in ((a, source), (b, target))}
    slot, name = key_slot_of(keys.physical(key)), keys.physical(key)
    target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[a])
    source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[b])
    while moving := source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.execute_command(
            "MIGRATE", "127.0.0.1", int(b.rpartition(":")[2]), "", 0, 5000, "KEYS", *moving
        )
    for _ in range(5):
        assert read(key).status == HIT and data(read(key)) == {"v": 1}  # from B, through ASK
    for port in private_cluster.primaries():
        private_cluster.node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[b])
    elsewhere(private_cluster).unlink(name)
    assert b not in near.trackers  # reconnects only RETRY_S after the loss
    assert data(read(key, 2)) == {"v": 2}


def test_with_the_near_cache_off_a_read_finds_the_promoted_replica(private_cluster, settings, db):
    """Reads that keep nothing near go through the cluster client, which learns the new slot map
    from a failed node: after a primary dies, its keys are hits again once its replica is
    promoted, with no write and no near tier to reload the map."""
    settings.CACHE_LAYER = {**settings.CACHE_LAYER, "NEAR_ENABLED": False}
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": [private_cluster.url]}}
    key = post_key(980_001)
    read(key)
    assert read(key).status == HIT
    victim = int(primary_of(key).rpartition(":")[2])
    private_cluster.kill(victim)
    wait_until(lambda: read(key).status == HIT, timeout=30, message="never a hit again")
    assert primary_of(key) != f"127.0.0.1:{victim}"


def test_a_frozen_primary_sends_only_its_own_slots_to_the_database(settings, db):
    """SIGSTOP on one primary of a cluster that serves without full coverage (the client's
    default node, which calls about no key, such as /metrics' INFO, go through): its slots'
    reads time out until its breaker opens, then BYPASS; the other primaries' slots stay HIT
    (near), however often INFO of every primary fails meanwhile."""
    from scripts.redis_cluster import Cluster  # as conftest's cluster fixtures do

    folder = ROOT / ".run" / f"cluster-frozen-{time.monotonic_ns()}"
    config = ("--cluster-require-full-coverage", "no")
    with Cluster(folder, node_timeout_ms=60_000, config=config) as started:
        settings.CACHE_LAYER = {**settings.CACHE_LAYER, "BREAKER_COOLDOWN_MS": 60_000}
        cluster_settings(settings, started)
        placed = one_key_per_primary(970_000)
        for key in placed.values():
            until_near(lambda key=key: read(key))
        frozen = client().get_default_node().name
        started.freeze(int(frozen.rpartition(":")[2]))
        statuses: dict[str, list[str]] = {name: [] for name in placed}
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with contextlib.suppress(CacheUnavailableError):
                memory()  # INFO of every primary, under the process's own breaker
            for name, k in placed.items():
                statuses[name].append(read(k).status)
        assert statuses[frozen][-5:] == [BYPASS] * 5, statuses[frozen][-10:]
        for name in placed:
            if name != frozen:
                assert set(statuses[name]) == {HIT}, (name, statuses[name][-10:])
