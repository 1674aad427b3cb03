-- restore: a room whose members share this node went on while Redis was
-- away (contract section 8): what it became is written back, so a member
-- can still resume it on any node and its seq goes on from there.
-- ARGV: prefix, room, a, b, node, a view, b view, mood, shared interests
--       (JSON), seq, ttl (ms), now, then the messages taken meanwhile
--       (kept-message JSON, oldest first).
-- The room is written again whole if Redis lost it (it came back empty),
-- as this node holds it; if Redis has it, its seq is raised to the
-- node's and the messages are appended to the kept ones.
-- Views are "" when a member is no longer on the node: then only a room
-- Redis still has is updated.
-- Returns {"ok"}, {"gone"} or {"other"} (another pair under that id).
local P, room, a, b, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local seq, ttl = tonumber(ARGV[10]), tonumber(ARGV[11])
local rk = P .. "r:" .. room
local kk = rk .. ":k"
local r = redis.call("HMGET", rk, "a", "b", "seq")
if r[1] then
  if r[1] ~= a or r[2] ~= b then return {"other"} end
  if tonumber(r[3] or 0) < seq then redis.call("HSET", rk, "seq", seq) end
elseif ARGV[6] == "" then
  -- A member left the node meanwhile: no views to write the room with.
  return {"gone"}
else
  redis.call("HSET", rk, "a", a, "b", b, "a_node", node, "b_node", node, "a_view", ARGV[6], "b_view", ARGV[7],
    "mood", ARGV[8], "shared", ARGV[9], "seq", seq, "started", ARGV[12])
  redis.call("SADD", P .. "nr:" .. node, room)
end
redis.call("SET", P .. "ur:" .. a, room, "PX", ttl)
redis.call("SET", P .. "ur:" .. b, room, "PX", ttl)
for i = 13, #ARGV do redis.call("RPUSH", kk, ARGV[i]) end
redis.call("LTRIM", kk, -100, -1)
redis.call("PEXPIRE", rk, ttl)
redis.call("PEXPIRE", kk, ttl)
return {"ok"}
