-- abort: a pairing was not taken by both nodes in time (one is dead or
-- slow), or one user left it. Whoever took it goes back to the queue with
-- its original join time (it keeps its place); the other is dropped.
-- ARGV: prefix, pair, leaver ("" when a timer aborts: then the side that
--       did not take is the one dropped).
-- Returns {"requeued", user...}: the users put back (their nodes are told
-- with "requeued <user>" and retry).
local P, pair, leaver = ARGV[1], ARGV[2], ARGV[3]
local pk = P .. "pend:" .. pair
local p = redis.call("HMGET", pk, "a", "b", "queue", "took_a", "took_b")
if not p[1] then return {"gone"} end
redis.call("DEL", pk)
local q = P .. "q:" .. p[3]
local back = {"requeued"}
for i, side in ipairs({{p[1], p[4]}, {p[2], p[5]}}) do
  local u, took = side[1], side[2]
  local wk = P .. "w:" .. u
  -- A side that did not take is dropped only if its node is dead; a slow
  -- but live node's user keeps its place too.
  local w_node = redis.call("HGET", wk, "node")
  local alive = w_node and redis.call("EXISTS", P .. "node:" .. w_node) == 1
  local keep = (leaver == "" and (took or alive)) or (leaver ~= "" and u ~= leaver)
  if keep then
    local w = redis.call("HMGET", wk, "score", "set", "node")
    redis.call("HDEL", wk, "pend")
    local since, set = w[1], w[2] or ""
    redis.call("ZADD", q, since, u)
    if set == "" then redis.call("ZADD", q .. ":bare", since, u)
    else
      redis.call("ZADD", q .. ":s:" .. set, since, u)
      for t in string.gmatch(set, "[^,]+") do redis.call("ZADD", q .. ":t:" .. t, since, u) end
    end
    redis.call("SADD", P .. "nw:" .. w[3], u)
    redis.call("PUBLISH", P .. "ch:" .. w[3], "requeued " .. u)
    back[#back + 1] = u
  else
    redis.call("DEL", wk)
  end
end
return back
