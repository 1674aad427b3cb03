-- stats: the cluster as /api/admin/stats shows it (contract section 8).
-- ARGV: prefix, queues (names joined by ","). Returns a JSON object:
-- {nodes: [{nodeId, connections, onlineUsers}], queueSizes: {...},
--  activeRooms, roomsCreated, messagesRelayed}. Reads only: the live
-- nodes' keys, one ZCARD per queue, the union of the live nodes' rooms.
local P, queues = ARGV[1], ARGV[2]
local nodes, rooms_keys = {}, {}
for _, n in ipairs(redis.call("ZRANGE", P .. "nodes", 0, -1)) do
  local info = redis.call("GET", P .. "node:" .. n)
  if info then
    local i = cjson.decode(info)
    nodes[#nodes + 1] = {nodeId = n, connections = i.connections or 0, onlineUsers = i.onlineUsers or 0}
    rooms_keys[#rooms_keys + 1] = P .. "nr:" .. n
  end
end
local sizes = {}
for q in string.gmatch(queues, "[^,]+") do sizes[q] = redis.call("ZCARD", P .. "q:" .. q) end
local active = 0
if #rooms_keys > 0 then active = #redis.call("SUNION", unpack(rooms_keys)) end
local result = cjson.encode({
  queueSizes = sizes,
  activeRooms = active,
  roomsCreated = tonumber(redis.call("GET", P .. "stat:rooms") or "0"),
  messagesRelayed = tonumber(redis.call("GET", P .. "stat:messages") or "0"),
})
-- cjson writes an empty table as {}: the node list is spliced in as an array.
local list = {}
for _, n in ipairs(nodes) do list[#list + 1] = cjson.encode(n) end
return string.sub(result, 1, -2) .. ',"nodes":[' .. table.concat(list, ",") .. "]}"
