-- epoch: the Redis epoch, set to ARGV[2] if there is none (a Redis that
-- comes back empty gets a new one, and nodes notice the change).
-- ARGV: prefix, fresh id. Returns the epoch now in Redis.
local k = ARGV[1] .. "epoch"
if redis.call("SET", k, ARGV[2], "NX") then return {ARGV[2]} end
return {redis.call("GET", k)}
