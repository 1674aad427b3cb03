-- relay: a frame about a room for the partner of `user` (TYPING), if the
-- partner has a node. ARGV: prefix, room, user, frame JSON.
-- Returns {"ok"}, {"away"} or {"not_in_room"}.
local P, room, user, frame = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local r = redis.call("HMGET", P .. "r:" .. room, "a", "b", "a_node", "b_node")
local other, other_node
if r[1] == user then other, other_node = r[2], r[4]
elseif r[2] == user then other, other_node = r[1], r[3]
else return {"not_in_room"} end
if not other_node or other_node == "" then return {"away"} end
redis.call("PUBLISH", P .. "ch:" .. other_node, "frame " .. other .. " - " .. room .. "\n" .. frame)
return {"ok"}
