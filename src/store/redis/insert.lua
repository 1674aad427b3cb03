-- insert_user. KEYS: u:<id>, t:<token>, lru, lruclock.
-- ARGV: prefix, id, token hash (hex), bound, most evictions this call,
-- nickname, mood, avatar, interests (JSON), created, last seen.
-- Returns how many identities were evicted to stay within the bound.
local p, id, tok = ARGV[1], ARGV[2], ARGV[3]
local bound, most = tonumber(ARGV[4]), tonumber(ARGV[5])
local old = redis.call('HGET', KEYS[1], 't')
if old and old ~= tok and redis.call('GET', p .. 't:' .. old) == id then
  redis.call('DEL', p .. 't:' .. old)
end
redis.call('HSET', KEYS[1], 't', tok, 'n', ARGV[6], 'm', ARGV[7], 'a', ARGV[8],
  'i', ARGV[9], 'c', ARGV[10], 's', ARGV[11])
redis.call('SET', KEYS[2], id)
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), id)
-- The least recently used go first; the new identity, just given the
-- newest use, is never among them. At most `most` a call, so a bound
-- lowered across a restart is reached over several inserts rather than in
-- one long script.
local evicted = 0
while evicted < most and redis.call('ZCARD', KEYS[3]) > bound do
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if oldest == id then break end
  if forget(p, oldest) then
    evicted = evicted + 1
  end
end
return evicted
