-- auth: a user authenticated on `node` (contract section 8: a second AUTH
-- on any node supersedes the socket on any other; resume on any node).
-- Presence moves here; a waiting place moves here; a room the user holds
-- is attached to this node and what the user missed is returned.
-- ARGV: prefix, user, node, lastSeq, room ttl (ms).
-- Returns {previous node or "", queue info or "", room or "", ...}:
--   queue info = "<queue> <since>" when the user waits;
--   for a room: room, partner view JSON, mood, last seq, "back" or "same"
--   (a resume after a drop, or a supersede), the partner, the user's side
--   ("a" or "b"), since when the partner is away ("" if it is not), then
--   the kept messages the partner sent after lastSeq (JSON), oldest first.
local P, user, node, last, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local prev = redis.call("GET", P .. "p:" .. user) or ""
redis.call("SET", P .. "p:" .. user, node, "PX", 86400000)
local out = {prev, "", ""}
local w = redis.call("HMGET", P .. "w:" .. user, "node", "queue", "since", "pend")
if w[1] then
  if w[1] ~= node then
    redis.call("HSET", P .. "w:" .. user, "node", node)
    if not w[4] then
      redis.call("SREM", P .. "nw:" .. w[1], user)
      redis.call("SADD", P .. "nw:" .. node, user)
    end
  end
  if not w[4] then out[2] = w[2] .. " " .. w[3] end
end
local room = redis.call("GET", P .. "ur:" .. user)
if not room then return out end
local rk = P .. "r:" .. room
local r = redis.call("HMGET", rk, "a", "b", "a_node", "b_node", "a_view", "b_view", "mood", "seq", "a_away", "b_away")
local me, my_node, other, other_node, other_view, other_away
if r[1] == user then me, my_node, other, other_node, other_view, other_away = "a", r[3], r[2], r[4], r[6], r[10]
elseif r[2] == user then me, my_node, other, other_node, other_view, other_away = "b", r[4], r[1], r[3], r[5], r[9]
else return out end
local back = (not my_node) or my_node == ""
if my_node and my_node ~= "" and my_node ~= node then redis.call("SREM", P .. "nr:" .. my_node, room) end
redis.call("HSET", rk, me .. "_node", node)
redis.call("HDEL", rk, me .. "_away")
redis.call("SADD", P .. "nr:" .. node, room)
redis.call("PEXPIRE", rk, ttl)
redis.call("PEXPIRE", rk .. ":k", ttl)
redis.call("PEXPIRE", P .. "ur:" .. user, ttl)
out[3] = room
out[4] = other_view
out[5] = r[7]
out[6] = r[8]
out[7] = back and "back" or "same"
out[8] = other
out[9] = me
-- The partner is away too (both dropped): its grace must run somewhere,
-- and nobody runs it now; the resuming node does.
out[10] = ((not other_node or other_node == "") and other_away) or ""
for _, m in ipairs(redis.call("LRANGE", rk .. ":k", 0, -1)) do
  local k = cjson.decode(m)
  if k.seq > last and k.from ~= me then out[#out + 1] = m end
end
if back and other_node and other_node ~= "" then
  redis.call("PUBLISH", P .. "ch:" .. other_node, "frame " .. other .. " back " .. room .. " " .. user .. "\n" ..
    '{"type":"PARTNER_BACK","payload":{"roomId":"' .. room .. '"}}')
end
return out
