"""Lua scripts, their replies, and how they are run: each is atomic in Redis, so a read, its count
and its lease, or a lease check and its store, cannot interleave with an invalidation."""

import enum
import hashlib
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from caching.redis.connection import Client

# A script's keys share one hash tag (core.keys), and the keys it builds (a list key's generation
# suffix, an hourly bucket) start with it: each script runs on one Redis Cluster node.

# Out of memory, Redis answers -OOM to a write; in a script without flags only to the first one,
# and only if it was out of memory when the script started (after one write a script may not stop
# halfway). So scripts write through ``written()``: a refusal is an answer and the script goes on
# without that write; any other error is a bug (raised). DEL and UNLINK are never refused.
WRITTEN = """
local function written(reply)
  if type(reply) == 'table' and reply.err then
    if string.sub(reply.err, 1, 4) ~= 'OOM ' then error(reply) end
    return false
  end
  return true
end
"""

# KEYS[1] the shard's stats hash, KEYS[2] value key (no generation), KEYS[3] generation counter
# (optional). ARGV[1] lease to claim on a miss, ARGV[2] its lifetime in ms, ARGV[3]
# keys.GENERATION_SEPARATOR, ARGV[4] keys.history_prefix, ARGV[5] the buckets' lifetime in s,
# ARGV[6] this read's XFetch draw (leases.draw; 0: no early refresh), ARGV[7]
# keys.REFRESH_SUFFIX. A value is stamped ``<fresh until, ms> <load ms>\n`` (STORE): fresh and
# not due, a hit; due (XFetch) or past its TTL, the reader that claims the key's refresh lease
# reloads it while the others are served it (up to LEASE_MS past its TTL; later they wait for
# the reload). Counts each read in
# the totals and in the current minute, unless Redis refuses: a hit never depends on a write.
# Returns {ReadReply, value or key[, the value held]}.
READ = (
    WRITTEN
    + """
local function count(outcome)
  if not written(redis.pcall('HINCRBY', KEYS[1], outcome, 1)) then
    return
  end
  local now = tonumber(redis.call('TIME')[1])
  local bucket = ARGV[4] .. math.floor(now / 3600)
  if redis.call('HINCRBY', bucket, math.floor(now / 60) .. ':' .. outcome, 1) == 1 then
    redis.call('EXPIRE', bucket, ARGV[5])
  end
end
local key = KEYS[2]
if KEYS[3] then
  local gen = redis.call('GET', KEYS[3])
  if not gen then
    -- Missing (never made, evicted, or deleted by a BUMP that Redis refused): restart from the
    -- clock, newer than any generation whose entries may still be stored.
    local t = redis.call('TIME')
    gen = string.format('%d', t[1] * 1000000 + t[2])
    if not written(redis.pcall('SET', KEYS[3], gen, 'NX')) then
      count('misses')
      return {4, key}
    end
  end
  key = key .. ARGV[3] .. gen
end
local value = redis.call('GET', key)
if value and string.sub(value, 1, 1) ~= '\\0' then
  local fresh, took = string.match(value, '^(%d+) (%d+)\\n')
  fresh, took = tonumber(fresh), tonumber(took)
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  if now + took * tonumber(ARGV[6]) < fresh then
    count('hits')
    return {1, value}
  end
  local claim = redis.pcall('SET', key .. ARGV[7], ARGV[1], 'NX', 'PX', ARGV[2])
  local claimed = type(claim) == 'table' and claim.ok ~= nil
  if now < fresh then
    if claimed then
      count('misses')
      return {5, key, value}
    end
    count('hits')
    return {1, value}
  end
  if not claimed and written(claim) and now < fresh + tonumber(ARGV[2]) then
    count('hits')  -- another reader reloads it: served meanwhile, LEASE_MS past its TTL at most
    return {1, value}
  end
  count('misses')
  if claimed then
    return {6, key, value}
  end
  if written(claim) then
    return {7, key, value}
  end
  return {4, key, value}
end
count('misses')
if value then
  return {3, key}
end
if not written(redis.pcall('SET', key, ARGV[1], 'PX', ARGV[2])) then
  return {4, key}
end
return {2, key}
"""
)

# KEYS[1] value key, KEYS[2] the shard's stats hash, KEYS[3] the lease's key (KEYS[1], or its
# refresh lease); ARGV[1] the caller's lease, ARGV[2] value, ARGV[3] TTL in seconds, ARGV[4]
# seconds it is kept past its TTL, ARGV[5] the load's milliseconds. Counts the database load;
# stores the value stamped as READ reads it, only while the caller's lease is in place; a
# refused store gives the lease up, so that waiters load at once. Returns a StoreReply.
STORE = (
    WRITTEN
    + """
written(redis.pcall('HINCRBY', KEYS[2], 'loads', 1))
if redis.call('GET', KEYS[3]) == ARGV[1] then
  local t = redis.call('TIME')
  local fresh = t[1] * 1000 + math.floor(t[2] / 1000) + ARGV[3] * 1000
  local stamped = string.format('%d %d\\n', fresh, ARGV[5]) .. ARGV[2]
  local kept = (ARGV[3] + ARGV[4]) * 1000
  if written(redis.pcall('SET', KEYS[1], stamped, 'PX', string.format('%d', kept))) then
    if KEYS[3] ~= KEYS[1] then
      redis.call('DEL', KEYS[3])
    end
    return 1
  end
  redis.call('DEL', KEYS[3])
end
return 0
"""
)

# KEYS[1] the lease's key, KEYS[2] the shard's stats hash; ARGV[1] the caller's lease. Counts
# the database load and gives the lease up (the load found nothing, or failed).
RELEASE = (
    WRITTEN
    + """
written(redis.pcall('HINCRBY', KEYS[2], 'loads', 1))
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)

# KEYS[1] value key (a list's: with its generation), KEYS[2] the shard's stats hash, KEYS[3] the
# generation counter (a list's); ARGV[1] the value read, ARGV[2] its generation ('' for a
# detail), ARGV[3] a counter to add one to if it is still held ('' none). Whether Redis still
# holds that value in the current generation: no write invalidated it since it was read.
HELD = (
    WRITTEN
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if KEYS[3] and redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return 0
end
if ARGV[3] ~= '' then
  written(redis.pcall('HINCRBY', KEYS[2], ARGV[3], 1))
end
return 1
"""
)

# KEYS[1]: a generation counter to advance; ARGV[1]: "existing" to leave a missing one missing
# (a reader starts a missing counter itself). A missing counter restarts from the server clock
# in microseconds, so an evicted one never returns to a generation whose keys may be stored; a
# refused SET deletes it instead, which advances it just the same. Returns a BumpReply.
BUMP = (
    WRITTEN
    + """
local current = redis.call('GET', KEYS[1])
if not current and ARGV[1] == 'existing' then
  return 0
end
local t = redis.call('TIME')
local floor = t[1] * 1000000 + t[2]
local gen = tonumber(current or '0')
if gen < floor then gen = floor else gen = gen + 1 end
if written(redis.pcall('SET', KEYS[1], string.format('%d', gen))) then
  return 1
end
redis.call('DEL', KEYS[1])
return 2
"""
)

# KEYS[1] the shard's stats hash; ARGV[1] near hits since the last flush, ARGV[2] and ARGV[3] as
# READ's ARGV[4] and ARGV[5]. Counts them as READ counts a hit. Returns 1 (0: refused).
HITS = (
    WRITTEN
    + """
if not written(redis.pcall('HINCRBY', KEYS[1], 'hits', ARGV[1])) then
  return 0
end
local now = tonumber(redis.call('TIME')[1])
local bucket = ARGV[2] .. math.floor(now / 3600)
if redis.call('HINCRBY', bucket, math.floor(now / 60) .. ':hits', ARGV[1]) == tonumber(ARGV[1]) then
  redis.call('EXPIRE', bucket, ARGV[3])
end
return 1
"""
)

# KEYS[1] a rate limit's counter (keys.rate), ARGV[1] its window in seconds. Counts one event
# in the window the first event opened; returns {events in the window, seconds until it ends}.
# A counter that lost its expiry (it never should) gets one again rather than living forever.
COUNT = """
local events = redis.call('INCR', KEYS[1])
local left = redis.call('TTL', KEYS[1])
if left < 0 then
  left = tonumber(ARGV[1])
  redis.call('EXPIRE', KEYS[1], left)
end
return {events, left}
"""


class ReadReply(enum.IntEnum):
    """READ's first reply element; the second is the value (HIT) or the physical key, the third
    the value held (REFRESH, LEASED_STALE, WAIT_STALE; FULL if one is held)."""

    HIT = 1  # the value
    LEASED = 2  # a miss; this caller now holds the lease on the key: load and STORE
    WAIT = 3  # a miss; another caller holds the lease: wait for its value
    FULL = 4  # a miss that could take no lease, as Redis refuses writes: load, store nothing
    REFRESH = 5  # fresh, but due (XFetch): this caller holds its refresh lease: reload, STORE
    LEASED_STALE = 6  # past its TTL: this caller holds its refresh lease: reload, STORE
    WAIT_STALE = 7  # past its TTL; another caller reloads it: wait for its value


class StoreReply(enum.IntEnum):
    """STORE's reply (RELEASE's: whether it deleted the lease)."""

    NOT_STORED = 0  # the lease was revoked, expired or evicted, or Redis refused the write
    STORED = 1


class BumpReply(enum.IntEnum):
    LEFT_MISSING = 0  # "existing" asked, and there was no counter
    ADVANCED = 1
    DELETED = 2  # Redis refused the SET: the counter was deleted, which advances it too


SOURCES = {
    "READ": READ,
    "STORE": STORE,
    "RELEASE": RELEASE,
    "HELD": HELD,
    "BUMP": BUMP,
    "HITS": HITS,
    "COUNT": COUNT,
}
SHAS = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in SOURCES.items()}


def load_scripts(r: Client) -> None:
    """Load every script (on a cluster: on every primary). After a failover the promoted
    replica's script cache may lack them; a NOSCRIPT reply sends callers here."""
    for text in SOURCES.values():
        r.script_load(text)


def run_script(r: Client, name: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA straight on a pooled connection, or on a cluster through the client
    (docs/reads.md, "The hit path")."""
    sha = SHAS[name]
    if isinstance(r, RedisCluster):
        try:
            return r.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # loaded where it was refused: a frozen primary elsewhere waits
            r.get_redis_connection(r.get_node_from_key(keys[0])).script_load(SOURCES[name])  # type: ignore[no-untyped-call]
            return r.evalsha(sha, len(keys), *keys, *args)
    assert isinstance(r, redis.Redis)
    pool = r.connection_pool
    conn = pool.get_connection()
    # redis-py leaves Connection.send_command and .disconnect unannotated: ignored per call.
    try:
        conn.send_command("EVALSHA", sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        try:
            return conn.read_response()
        except NoScriptError:  # Redis restarted or flushed its scripts
            conn.send_command("SCRIPT", "LOAD", SOURCES[name])  # type: ignore[no-untyped-call]
            conn.read_response()
            conn.send_command("EVALSHA", sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
            return conn.read_response()
    except (redis.ConnectionError, redis.TimeoutError):
        conn.disconnect()  # type: ignore[no-untyped-call]
        raise
    finally:
        pool.release(conn)


def run_script_each(
    conn: redis.Redis, name: str, calls: list[tuple[list[str], list[Any]]]
) -> list[Any]:
    """Script ``name`` once per ``(keys, args)`` in ``calls``, pipelined on one server; each
    result, or the error it raised. Runs refused with NOSCRIPT run once more after a SCRIPT
    LOAD, and only they: the others are never counted twice."""
    results: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in (1, 2):
        pipe = conn.pipeline(transaction=False)
        for i in todo:
            keys, args = calls[i]
            pipe.execute_command("EVALSHA", SHAS[name], len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        for i, result in zip(todo, pipe.execute(raise_on_error=False), strict=True):
            results[i] = result
        todo = [i for i in todo if isinstance(results[i], NoScriptError)]
        if not todo or attempt == 2:
            break
        conn.script_load(SOURCES[name])
    return results
