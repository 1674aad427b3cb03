-- update_profile. KEYS: u:<id>, lru, lruclock.
-- ARGV: id, nickname, mood, avatar, interests (JSON), last seen.
-- Returns 1, or 0 if there is no such user (nothing is created).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'n', ARGV[2], 'm', ARGV[3], 'a', ARGV[4], 'i', ARGV[5], 's', ARGV[6])
redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), ARGV[1])
return 1
