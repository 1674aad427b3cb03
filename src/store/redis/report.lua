-- add_report. KEYS: rep, repj, repby:<reporter>, rep:<reported>, ipsalt.
-- ARGV: prefix, entry ("<reportId> <reporterId>"), report JSON, created
-- (epoch ms), counts for a ban (1/0), reporter address ('' if unknown),
-- a salt to use if the cluster has none yet, most reports kept, most
-- kept per reported user, per-user index lifetime (ms).
-- Returns 1, or 0 if a report with this entry is already stored.
local p, entry = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[2], entry) == 1 then
  return 0
end
redis.call('LPUSH', KEYS[1], entry)
redis.call('HSET', KEYS[2], entry, ARGV[3])
redis.call('SADD', KEYS[3], entry)
local most = tonumber(ARGV[8])
while redis.call('LLEN', KEYS[1]) > most do
  local old = redis.call('RPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], old)
  local reporter = string.match(old, ' (%S+)$')
  if reporter then
    redis.call('SREM', p .. 'repby:' .. reporter, old)
  end
end
-- The address is kept only as a salted hash (the salt is the cluster's,
-- made once), enough to tell two addresses apart.
local addr = '-'
if ARGV[6] ~= '' then
  local salt = redis.call('GET', KEYS[5])
  if not salt then
    salt = ARGV[7]
    redis.call('SET', KEYS[5], salt)
  end
  addr = redis.sha1hex(salt .. ARGV[6])
end
redis.call('ZADD', KEYS[4], ARGV[4], entry .. ' ' .. addr .. ' ' .. ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(tonumber(ARGV[9]) + 1))
redis.call('PEXPIRE', KEYS[4], ARGV[10])
return 1
