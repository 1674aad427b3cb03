-- bury: a node stopped beating (its key expired): within the contract's
-- 10 s its waiters leave the queues, and each of its users' partners is
-- told PARTNER_AWAY (their nodes run the grace). Idempotent: the first
-- live node to see the death does the work, the others find nothing.
-- ARGV: prefix, dead node, now. Returns {"buried", waiters, rooms} or
-- {"alive"}.
local P, dead, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call("EXISTS", P .. "node:" .. dead) == 1 then return {"alive"} end
local waiters = redis.call("SMEMBERS", P .. "nw:" .. dead)
for _, u in ipairs(waiters) do
  local wk = P .. "w:" .. u
  local w = redis.call("HMGET", wk, "queue", "set", "node", "pend")
  if w[1] and not w[4] and w[3] == dead then
    local q = P .. "q:" .. w[1]
    redis.call("ZREM", q, u)
    local set = w[2] or ""
    if set == "" then redis.call("ZREM", q .. ":bare", u)
    else
      redis.call("ZREM", q .. ":s:" .. set, u)
      for t in string.gmatch(set, "[^,]+") do redis.call("ZREM", q .. ":t:" .. t, u) end
    end
    redis.call("DEL", wk)
  end
end
local rooms = redis.call("SMEMBERS", P .. "nr:" .. dead)
for _, room in ipairs(rooms) do
  local rk = P .. "r:" .. room
  local r = redis.call("HMGET", rk, "a", "b", "a_node", "b_node")
  if r[1] then
    for _, s in ipairs({{"a", r[1], r[3], r[2], r[4]}, {"b", r[2], r[4], r[1], r[3]}}) do
      if s[3] == dead then
        redis.call("HSET", rk, s[1] .. "_node", "", s[1] .. "_away", now)
        if s[5] and s[5] ~= "" and s[5] ~= dead then
          redis.call("PUBLISH", P .. "ch:" .. s[5], "frame " .. s[4] .. " away " .. room .. " " .. s[2] .. " " .. now ..
            "\n" .. '{"type":"PARTNER_AWAY","payload":{"roomId":"' .. room .. '"}}')
        end
      end
    end
  end
end
redis.call("DEL", P .. "nw:" .. dead, P .. "nr:" .. dead)
redis.call("ZREM", P .. "nodes", dead)
return {"buried", #waiters, #rooms}
