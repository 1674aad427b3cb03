-- leave: a waiter leaves its queue (LEAVE_QUEUE, a drop, a timeout, a
-- ban). A waiter in a pending pairing aborts it (its would-be partner is
-- put back). ARGV: prefix, user, node asking ("" = any: a ban). A node
-- that no longer holds the wait (the user's socket moved to another node)
-- leaves it alone. Returns {"left"}, {"absent"} or {"moved"}.
local P, user, node = ARGV[1], ARGV[2], ARGV[3]
local wk = P .. "w:" .. user
local w = redis.call("HMGET", wk, "queue", "set", "node", "pend")
if not w[1] then return {"absent"} end
if node ~= "" and w[3] ~= node then return {"moved"} end
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
