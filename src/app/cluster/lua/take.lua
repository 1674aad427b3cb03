-- take: a node takes the pairing offered for its user (contract section
-- 8: a pairing is announced only once both users' nodes have taken it).
-- The second take opens the room and publishes MATCH_FOUND to both nodes.
-- ARGV: prefix, pair (also the room id), user, now, room ttl (ms).
-- Returns {"waiting"}, {"committed"} or {"gone"} (aborted meanwhile).
local P, pair, user, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local pk = P .. "pend:" .. pair
local p = redis.call("HMGET", pk, "a", "b", "queue", "took_a", "took_b")
if not p[1] then return {"gone"} end
local side
if user == p[1] then side = "a" elseif user == p[2] then side = "b" else return {"gone"} end
redis.call("HSET", pk, "took_" .. side, 1)
if not ((side == "a" or p[4]) and (side == "b" or p[5])) then return {"waiting"} end

local a, b, queue = p[1], p[2], p[3]
local wa = redis.call("HMGET", P .. "w:" .. a, "view", "node", "set")
local wb = redis.call("HMGET", P .. "w:" .. b, "view", "node", "set")
local va, vb = cjson.decode(wa[1]), cjson.decode(wb[1])
local mood = queue == "random" and "random" or va.mood
local theirs = {}
for t in string.gmatch(wb[3] or "", "[^,]+") do theirs[t] = true end
local shared = {}
for t in string.gmatch(wa[3] or "", "[^,]+") do
  if theirs[t] then shared[#shared + 1] = cjson.encode(t) end
end
local shared_json = "[" .. table.concat(shared, ",") .. "]"

local rk = P .. "r:" .. pair
redis.call("HSET", rk, "a", a, "b", b, "a_node", wa[2], "b_node", wb[2], "a_view", wa[1], "b_view", wb[1],
  "mood", mood, "shared", shared_json, "seq", 0, "started", now)
redis.call("PEXPIRE", rk, ttl)
redis.call("SET", P .. "ur:" .. a, pair, "PX", ttl)
redis.call("SET", P .. "ur:" .. b, pair, "PX", ttl)
redis.call("DEL", pk, P .. "w:" .. a, P .. "w:" .. b)
redis.call("SADD", P .. "nr:" .. wa[2], pair)
redis.call("SADD", P .. "nr:" .. wb[2], pair)
redis.call("INCR", P .. "stat:rooms")

local function found(to, to_node, other_view, other, side)
  local frame = '{"type":"MATCH_FOUND","payload":{"roomId":"' .. pair .. '","mood":"' .. mood ..
    '","partner":' .. other_view .. ',"sharedInterests":' .. shared_json .. '}}'
  redis.call("PUBLISH", P .. "ch:" .. to_node, "frame " .. to .. " in_room " .. pair .. " " .. other .. " " .. side .. "\n" ..
    frame)
end
found(a, wa[2], wb[1], b, "a")
found(b, wb[2], wa[1], a, "b")
return {"committed"}
