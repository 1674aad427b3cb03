-- user_by_token. KEYS: t:<token>, lru, lruclock. ARGV: prefix.
-- Returns {id, token, nickname, mood, avatar, interests, created, seen}
-- and marks the identity used, or nil.
local id = redis.call('GET', KEYS[1])
if not id then
  return false
end
local v = redis.call('HMGET', ARGV[1] .. 'u:' .. id, 't', 'n', 'm', 'a', 'i', 'c', 's')
if not v[1] then
  return false
end
redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), id)
table.insert(v, 1, id)
return v
