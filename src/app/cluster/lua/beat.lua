-- beat: this node is alive (contract section 8, liveness). One script, so
-- a stalled Redis costs the heartbeat one call timeout, not one per
-- command of a pipeline (the redis crate reads every reply of a pipeline,
-- each with its own timeout).
-- ARGV: prefix, node, info (JSON), node TTL ms, now ms, cut ms (now - TTL).
-- Returns: Redis TIME seconds, microseconds, "1" if this node's key still
-- existed ("" if it had expired: the node may have been buried), the
-- number of live nodes, then the nodes last heard at or before cut.
local P, node, info, ttl, now, cut = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local t = redis.call("TIME")
local previous = redis.call("SET", P .. "node:" .. node, info, "PX", ttl, "GET")
redis.call("ZADD", P .. "nodes", now, node)
local live = redis.call("ZCOUNT", P .. "nodes", "(" .. cut, "+inf")
local out = {t[1], t[2], previous and "1" or "", live}
for _, n in ipairs(redis.call("ZRANGEBYSCORE", P .. "nodes", "-inf", cut)) do out[#out + 1] = n end
return out
