"""Lua scripts: each runs atomically in Redis, so a read, its counter and its lease, or a
lease check and its store, cannot interleave with an invalidation."""

# A lease is a placeholder stored under the value's own key: a reader that misses claims the
# key with it, loads from the database, and may store only while the key still holds its lease.
# Invalidation deletes the key, which revokes the lease (SPEC 8.3). JSON values never start
# with a NUL byte, so a lease cannot be mistaken for a value.
LEASE_MARK = "\0lease:"

# Every script's keys share one hash tag (caching.keys), so each runs on one Redis Cluster node.
# Keys a script builds itself (a list key's generation suffix, an hourly history bucket) start
# with a declared key's tag, so they are in the same slot too.

# KEYS[1] the shard's stats hash, KEYS[2] value key (no generation), KEYS[3] generation counter
# (optional). ARGV[1] lease to claim on a miss, ARGV[2] lease lifetime in ms, ARGV[3] generation
# separator (keys.GENERATION_SEPARATOR), ARGV[4] prefix of the shard's hourly history hashes
# (keys.history_prefix), ARGV[5] their lifetime in seconds.
# Each read counts once in the totals and once in the current minute's field of the hour bucket.
# Returns {1, value} on a hit, {2, key} when this caller now holds the lease on key,
# {3, key} when another caller holds it.
READ = """
local function count(outcome)
  redis.call('HINCRBY', KEYS[1], outcome, 1)
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
    local t = redis.call('TIME')
    gen = string.format('%d', t[1] * 1000000 + t[2])
    redis.call('SET', KEYS[3], gen, 'NX')
    gen = redis.call('GET', KEYS[3])
  end
  key = key .. ARGV[3] .. gen
end
local value = redis.call('GET', key)
if value and string.sub(value, 1, 1) ~= '\\0' then
  count('hits')
  return {1, value}
end
count('misses')
if value then
  return {3, key}
end
redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
return {2, key}
"""

# KEYS[1] value key, KEYS[2] the shard's stats hash; ARGV[1] the caller's lease, ARGV[2] value,
# ARGV[3] TTL in seconds. Counts the database load; stores only if the caller's lease is still
# in place. Returns 1 if stored.
STORE = """
redis.call('HINCRBY', KEYS[2], 'loads', 1)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# KEYS[1] value key, KEYS[2] the shard's stats hash; ARGV[1] the caller's lease. Counts the
# database load and gives the lease up (the load found nothing, or failed).
RELEASE = """
redis.call('HINCRBY', KEYS[2], 'loads', 1)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1]: a generation counter to advance; ARGV[1]: "existing" to leave a missing one missing
# (a reader starts a missing counter itself). A missing counter restarts from the server clock
# in microseconds rather than from 1, so an evicted counter never returns to a generation whose
# keys may still be stored. One key per call: each namespace's counter has its own slot.
BUMP = """
local current = redis.call('GET', KEYS[1])
if not current and ARGV[1] == 'existing' then
  return 0
end
local t = redis.call('TIME')
local floor = t[1] * 1000000 + t[2]
local gen = tonumber(current or '0')
if gen < floor then gen = floor else gen = gen + 1 end
redis.call('SET', KEYS[1], string.format('%d', gen))
return 1
"""

NAMES = ("READ", "STORE", "RELEASE", "BUMP")
