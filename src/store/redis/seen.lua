-- seen: only the last-seen time. KEYS: u:<id>. ARGV: last seen (epoch ms).
-- (The lookup that came before it already marked the identity used.)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 's', ARGV[1])
return 1
