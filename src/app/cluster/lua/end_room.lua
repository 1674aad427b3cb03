-- end_room: a member ends the room (LEAVE_ROOM "left", NEXT "next",
-- REPORT "left"; a grace that ran out "disconnected", then `user` is the
-- member who did not come back). The partner gets PARTNER_LEFT (and goes
-- idle on its node); the leaver's reply frame (ROOM_LEFT, REPORTED; may
-- be "") goes to the leaver's node after it, with the effect given
-- ("idle", or "next": requeue). A cooldown (or, after a report, a
-- never-rematch) is recorded for the pair.
-- ARGV: prefix, room, user, reason, reply JSON, effect, cooldown until
--       (ms; 0 = none; "inf" = never), expected away time ("" or the
--       `<side>_away` the grace was for: the room ends only if unchanged).
-- Returns {"ended", partner} or {"not_in_room"} or {"back"}.
local P, room, user, reason, reply, effect, cool, away =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local rk = P .. "r:" .. room
local r = redis.call("HMGET", rk, "a", "b", "a_node", "b_node", "a_away", "b_away")
local me, other, my_node, other_node, my_away
if r[1] == user then me, other, my_node, other_node, my_away = "a", r[2], r[3], r[4], r[5]
elseif r[2] == user then me, other, my_node, other_node, my_away = "b", r[1], r[4], r[3], r[6]
else return {"not_in_room"} end
if away ~= "" and (my_away ~= away or (my_node and my_node ~= "")) then return {"back"} end
redis.call("DEL", rk, rk .. ":k", P .. "ur:" .. user, P .. "ur:" .. other)
for _, n in ipairs({my_node, other_node}) do
  if n and n ~= "" then redis.call("SREM", P .. "nr:" .. n, room) end
end
if other_node and other_node ~= "" then
  redis.call("PUBLISH", P .. "ch:" .. other_node, "frame " .. other .. " idle " .. room .. "\n" ..
    '{"type":"PARTNER_LEFT","payload":{"roomId":"' .. room .. '","reason":"' .. reason .. '"}}')
end
if reply ~= "" and my_node and my_node ~= "" then
  redis.call("PUBLISH", P .. "ch:" .. my_node, "reply " .. user .. " " .. effect .. " " .. room .. "\n" .. reply)
end
if cool ~= "0" then
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000
  for _, pair in ipairs({{user, other}, {other, user}}) do
    local xk = P .. "x:" .. pair[1]
    redis.call("ZADD", xk, cool, pair[2])
    -- Expired cooldowns go; at most 1,000 pairs a user, never-rematch
    -- ("inf") kept last.
    redis.call("ZREMRANGEBYSCORE", xk, "-inf", now)
    redis.call("ZREMRANGEBYRANK", xk, 0, -1001)
    -- The key goes with its last cooldown; a never-rematch pair keeps it.
    local top = redis.call("ZRANGE", xk, -1, -1, "WITHSCORES")
    if top[2] == "inf" then redis.call("PERSIST", xk)
    elseif top[2] then redis.call("PEXPIREAT", xk, math.ceil(tonumber(top[2]))) end
  end
end
return {"ended", other}
