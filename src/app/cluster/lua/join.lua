-- join: queue a waiter, or pair it at once (contract sections 4 and 8).
-- ARGV: prefix, user, node, queue, now, tier1, interests (sorted, joined
--       by ","; "" for none), waiter (JSON: what the partner is shown and
--       the room needs), pair id (fresh), retry ("1": the user is already
--       queued and crossed tier 1; find a partner, nothing to insert),
--       and the QUEUE_WAITING frame around its count (two JSON pieces),
--       published to the joiner's node before any offer (so the client
--       sees it before MATCH_FOUND).
-- Node messages are text: a header line (space-separated words), then,
-- for frames, the frame's JSON on the next line (see cluster/msg.rs).
-- Returns {"waiting", n} or {"offered", pair, n}, n = waiters in the
-- queue, this one included (before a pairing takes two out).
--
-- Never scans the queue: candidates come from the exact-set index, the
-- index of each of the joiner's interests, and the no-interest index,
-- each read oldest first and at most SCAN_CAP entries.
local P, user, node, queue = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, tier1 = tonumber(ARGV[5]), tonumber(ARGV[6])
local set, waiter, pair, retry = ARGV[7], ARGV[8], ARGV[9], ARGV[10] == "1"
local SCAN_CAP = 200
local q = P .. "q:" .. queue

local tags = {}
if set ~= "" then
  for t in string.gmatch(set, "[^,]+") do tags[#tags + 1] = t end
end
local mine = {}
for _, t in ipairs(tags) do mine[t] = true end

-- Index scores are join times in ms, times 1000, plus a per-queue counter
-- (mod 1000): two joins in one millisecond keep their order, so "the
-- longest wait" is never decided by user id.
-- Lua hands numbers to Redis with 14 significant digits: scores are
-- written with all of theirs.
local function num(x) return string.format("%.0f", x) end
local since = now
local score
if retry then
  local w = redis.call("HMGET", P .. "w:" .. user, "since", "score", "pend")
  if not w[1] or w[3] then return {"gone", 0} end
  since, score = tonumber(w[1]), tonumber(w[2])
else
  score = now * 1000 + redis.call("INCR", P .. "qn:" .. queue) % 1000
end
local my_tier2 = (now - since) >= tier1

local function alive(n)
  return n and redis.call("EXISTS", P .. "node:" .. n) == 1
end

local function excluded(c)
  local a = redis.call("ZSCORE", P .. "x:" .. user, c)
  if a and tonumber(a) > now then return true end
  local b = redis.call("ZSCORE", P .. "x:" .. c, user)
  return b and tonumber(b) > now
end

local best, best_shared, best_since = nil, -1, nil
local function consider(c, c_score)
  local c_since = math.floor(c_score / 1000)
  if c == user then return end
  local w = redis.call("HMGET", P .. "w:" .. c, "node", "set", "pend")
  if not w[1] or w[3] or not alive(w[1]) or excluded(c) then return end
  local shared, theirs = 0, 0
  for t in string.gmatch(w[2] or "", "[^,]+") do
    theirs = theirs + 1
    if mine[t] then shared = shared + 1 end
  end
  -- The pair is judged by the tier of whichever waited longer.
  local tier2 = my_tier2 or (now - c_since) >= tier1
  local ok
  if tier2 then ok = shared >= 1 or theirs == 0 or #tags == 0
  else ok = (w[2] or "") == set end
  if not ok then return end
  if shared > best_shared or (shared == best_shared and c_score < best_since) then
    best, best_shared, best_since = c, shared, c_score
  end
end

local function scan(key, max_since)
  local rows = redis.call("ZRANGEBYSCORE", key, "-inf", max_since, "WITHSCORES", "LIMIT", 0, SCAN_CAP)
  for i = 1, #rows, 2 do consider(rows[i], tonumber(rows[i + 1])) end
end

local tier2_cut = num((now - tier1) * 1000 + 999)
-- Exact set: eligible at any wait (equal sets, tier 1).
if set ~= "" then scan(q .. ":s:" .. set, "+inf") else scan(q .. ":bare", "+inf") end
-- Shared interests: eligible once the pair is tier 2.
for _, t in ipairs(tags) do scan(q .. ":t:" .. t, my_tier2 and "+inf" or tier2_cut) end
-- No interests on their side: anyone at tier 2.
if #tags > 0 then scan(q .. ":bare", my_tier2 and "+inf" or tier2_cut) end
-- No interests on this side: anyone at tier 2, oldest first.
if #tags == 0 then scan(q, my_tier2 and "+inf" or tier2_cut) end

local function unindex(u, u_set, u_node)
  redis.call("ZREM", q, u)
  if u_set == "" then redis.call("ZREM", q .. ":bare", u)
  else
    redis.call("ZREM", q .. ":s:" .. u_set, u)
    for t in string.gmatch(u_set, "[^,]+") do redis.call("ZREM", q .. ":t:" .. t, u) end
  end
  redis.call("SREM", P .. "nw:" .. u_node, u)
end

local count = redis.call("ZCARD", q) + (retry and 0 or 1)
if not retry then
  redis.call("HSET", P .. "w:" .. user, "queue", queue, "since", num(since), "score", num(score), "set", set,
    "node", node, "view", waiter)
  redis.call("PUBLISH", P .. "ch:" .. node, "reply " .. user .. " - -\n" .. ARGV[11] .. count .. ARGV[12])
end
if not best then
  if not retry then
    local s = num(score)
    redis.call("ZADD", q, s, user)
    if set == "" then redis.call("ZADD", q .. ":bare", s, user)
    else
      redis.call("ZADD", q .. ":s:" .. set, s, user)
      for _, t in ipairs(tags) do redis.call("ZADD", q .. ":t:" .. t, s, user) end
    end
    redis.call("SADD", P .. "nw:" .. node, user)
  end
  return {"waiting", count}
end

-- Pair: both leave the queue into a pending pairing; each node must take.
if retry then unindex(user, set, node) end
local them = redis.call("HMGET", P .. "w:" .. best, "set", "node", "view", "since")
unindex(best, them[1] or "", them[2])
redis.call("HSET", P .. "w:" .. user, "pend", pair)
redis.call("HSET", P .. "w:" .. best, "pend", pair)
local pk = P .. "pend:" .. pair
redis.call("HSET", pk, "a", user, "b", best, "queue", queue, "shared", best_shared)
redis.call("PEXPIRE", pk, 10000)
for _, side in ipairs({{user, node}, {best, them[2]}}) do
  redis.call("PUBLISH", P .. "ch:" .. side[2], "offer " .. side[1] .. " " .. pair)
end
return {"offered", pair, count}
