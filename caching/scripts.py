"""Lua scripts: each runs atomically in Redis, so a read, its counter and its lease, or a
lease check and its store, cannot interleave with an invalidation."""

# A lease is a placeholder stored under the value's own key: a reader that misses claims the
# key with it, loads from the database, and may store only while the key still holds its lease.
# Invalidation deletes the key, which revokes the lease (SPEC 8.3). JSON values never start
# with a NUL byte, so a lease cannot be mistaken for a value.
LEASE_MARK = "\0lease:"

# KEYS[1] stats hash, KEYS[2] value key (no generation), KEYS[3] generation counter (optional).
# ARGV[1] hits field, ARGV[2] misses field, ARGV[3] lease to claim on a miss, ARGV[4] lease
# lifetime in ms, ARGV[5] generation separator (keys.GENERATION_SEPARATOR), ARGV[6] prefix of
# the per-minute history hashes (keys.history_prefix), ARGV[7] their lifetime in seconds.
# Each read counts once in the totals and once in the current minute's bucket.
# Returns {1, value} on a hit, {2, key} when this caller now holds the lease on key,
# {3, key} when another caller holds it.
READ = """
local function count(field)
  redis.call('HINCRBY', KEYS[1], field, 1)
  local bucket = ARGV[6] .. math.floor(redis.call('TIME')[1] / 60)
  if redis.call('HINCRBY', bucket, field, 1) == 1 then
    redis.call('EXPIRE', bucket, ARGV[7])
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
  key = key .. ARGV[5] .. gen
end
local value = redis.call('GET', key)
if value and string.sub(value, 1, 1) ~= '\\0' then
  count(ARGV[1])
  return {1, value}
end
count(ARGV[2])
if value then
  return {3, key}
end
redis.call('SET', key, ARGV[3], 'PX', ARGV[4])
return {2, key}
"""

# KEYS[1] value key; ARGV[1] the caller's lease, ARGV[2] value, ARGV[3] TTL in seconds.
# Stores only if the caller's lease is still in place; returns 1 if stored.
STORE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

# KEYS[1] value key; ARGV[1] the caller's lease. Gives the lease up (the load found nothing).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: generation counters to advance; ARGV[1]: "existing" to leave missing ones missing (a
# reader starts a missing counter itself). A missing counter restarts from the server clock in
# microseconds rather than from 1, so an evicted counter never returns to a generation whose
# keys may still be stored.
BUMP = """
local t = redis.call('TIME')
local floor = t[1] * 1000000 + t[2]
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current or ARGV[1] ~= 'existing' then
    local gen = tonumber(current or '0')
    if gen < floor then gen = floor else gen = gen + 1 end
    redis.call('SET', key, string.format('%d', gen))
  end
end
return #KEYS
"""
