-- renew: the keys of rooms this node's users hold live on (their TTL is
-- the grace plus a margin; a holder renews them every beat). The caller
-- sends at most a bounded chunk of rooms per call.
-- ARGV: prefix, ttl ms, then pairs of (room id as 16 hex digits, user).
local P, ttl = ARGV[1], ARGV[2]
for i = 3, #ARGV - 1, 2 do
  local rk = P .. "r:" .. ARGV[i]
  redis.call("PEXPIRE", rk, ttl)
  redis.call("PEXPIRE", rk .. ":k", ttl)
  redis.call("PEXPIRE", P .. "ur:" .. ARGV[i + 1], ttl)
end
return {}
