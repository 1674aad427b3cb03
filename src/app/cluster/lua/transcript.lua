-- transcript: for a REPORT, the room's two members and its last kept
-- messages. ARGV: prefix, room id (16 hex digits), lines.
-- Returns: a, b ("" if the room is gone), then the kept messages' JSON.
local rk = ARGV[1] .. "r:" .. ARGV[2]
local a = redis.call("HGET", rk, "a") or ""
local b = redis.call("HGET", rk, "b") or ""
local out = {a, b}
for _, k in ipairs(redis.call("LRANGE", rk .. ":k", -tonumber(ARGV[3]), -1)) do out[#out + 1] = k end
return out
