-- away: a member's socket dropped (or its node is shutting down): the
-- member has no node now, and its partner's node is told PARTNER_AWAY
-- (effect "away": it runs the grace timer for this member).
-- ARGV: prefix, room, user, now, node it dropped from.
-- Returns {"away"} or {"not_in_room"} or {"moved"} (the member's socket is
-- already on another node: a supersede, not a drop).
local P, room, user, now, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rk = P .. "r:" .. room
local r = redis.call("HMGET", rk, "a", "b", "a_node", "b_node")
local me, other, my_node, other_node
if r[1] == user then me, other, my_node, other_node = "a", r[2], r[3], r[4]
elseif r[2] == user then me, other, my_node, other_node = "b", r[1], r[4], r[3]
else return {"not_in_room"} end
if my_node ~= node then return {"moved"} end
redis.call("HSET", rk, me .. "_node", "", me .. "_away", now)
redis.call("SREM", P .. "nr:" .. node, room)
if other_node and other_node ~= "" then
  redis.call("PUBLISH", P .. "ch:" .. other_node, "frame " .. other .. " away " .. room .. " " .. user .. " " .. now ..
    "\n" .. '{"type":"PARTNER_AWAY","payload":{"roomId":"' .. room .. '"}}')
end
return {"away"}
