-- leave_cluster: a clean exit removes this node's liveness at once.
-- ARGV: prefix, node.
redis.call("DEL", ARGV[1] .. "node:" .. ARGV[2])
redis.call("ZREM", ARGV[1] .. "nodes", ARGV[2])
return {}
