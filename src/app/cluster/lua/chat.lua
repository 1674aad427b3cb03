-- chat: a CHAT in a room (contract section 5): the next seq, kept (the
-- last 100), the partner's CHAT published to the partner's node and the
-- sender's CHAT_ACK to the sender's node, in that order, by this script,
-- so both nodes see the room in seq order. A partner away (no node) is
-- sent nothing: the message waits in the kept list for its resume.
-- ARGV: prefix, room, user, text (a JSON string literal), sentAt, id (a
--       JSON string literal, or ""), deadline (Redis time, ms:
--       past it the node has already answered UNAVAILABLE, so the message
--       must not be taken: a stalled Redis runs the script late), the
--       sender's node (a socket superseded on another node may still send:
--       it does not speak for the user any more).
-- Returns {"ok", seq}, {"not_in_room"}, {"moved"} or {"late"}.
local P, room, user, text, sent, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local t = redis.call("TIME")
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[7]) then return {"late"} end
local rk = P .. "r:" .. room
local r = redis.call("HMGET", rk, "a", "b", "a_node", "b_node")
local me, other, other_node, my_node
if r[1] == user then me, other, my_node, other_node = "a", r[2], r[3], r[4]
elseif r[2] == user then me, other, my_node, other_node = "b", r[1], r[4], r[3]
else return {"not_in_room"} end
if my_node ~= ARGV[8] then return {"moved"} end
local seq = redis.call("HINCRBY", rk, "seq", 1)
local kk = rk .. ":k"
redis.call("RPUSH", kk, '{"seq":' .. seq .. ',"from":"' .. me .. '","text":' .. text .. ',"sentAt":' .. sent .. '}')
redis.call("LTRIM", kk, -100, -1)
-- No PEXPIRE here: the nodes holding the members renew the room's keys
-- every beat (Cluster::beat), and an away member's `ur:` needs to last
-- only its grace, which its drop's renewal covers.
if other_node and other_node ~= "" then
  redis.call("PUBLISH", P .. "ch:" .. other_node, "frame " .. other .. " - " .. room .. " " .. seq .. "\n" ..
    '{"type":"CHAT","payload":{"roomId":"' .. room .. '","seq":' .. seq .. ',"text":' .. text ..
    ',"sentAt":' .. sent .. '}}')
end
local idpart = ""
if id ~= "" then idpart = ',"id":' .. id end
if my_node and my_node ~= "" then
  redis.call("PUBLISH", P .. "ch:" .. my_node, "reply " .. user .. " - " .. room .. " " .. seq .. "\n" ..
    '{"type":"CHAT_ACK"' .. idpart .. ',"payload":{"roomId":"' .. room .. '","seq":' .. seq ..
    ',"sentAt":' .. sent .. '}}')
end
redis.call("INCR", P .. "stat:messages")
return {"ok", seq}
