-- leave: a waiter leaves its queue (LEAVE_QUEUE, a drop, a timeout, a
-- ban). A waiter in a pending pairing aborts it (its would-be partner is
-- put back). ARGV: prefix, user. Returns {"left"} or {"absent"}.
local P, user = ARGV[1], ARGV[2]
local wk = P .. "w:" .. user
local w = redis.call("HMGET", wk, "queue", "set", "node", "pend")
if not w[1] then return {"absent"} end
if w[4] then
  redis.call("DEL", wk)
  return {"left", w[4]}
end
local q = P .. "q:" .. w[1]
redis.call("ZREM", q, user)
local set = w[2] or ""
if set == "" then redis.call("ZREM", q .. ":bare", user)
else
  redis.call("ZREM", q .. ":s:" .. set, user)
  for t in string.gmatch(set, "[^,]+") do redis.call("ZREM", q .. ":t:" .. t, user) end
end
redis.call("SREM", P .. "nw:" .. w[3], user)
redis.call("DEL", wk)
return {"left"}
