-- register_limit: the per-address registration bucket, shared by the
-- cluster (contract section 8: "the per-address registration limit is
-- cluster-wide"). A token bucket of `burst` tokens refilled at `per_ms`
-- tokens a millisecond. ARGV: prefix, client address, now (ms), burst,
-- refill per ms. Returns 0 (taken) or the ms to wait.
local P, addr, now, burst, rate = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local k = P .. "rl:" .. addr
local b = redis.call("HMGET", k, "tokens", "at")
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call("HSET", k, "tokens", tostring(tokens), "at", now)
-- A full bucket again is the same as no key: it expires by then.
redis.call("PEXPIRE", k, math.ceil(burst / rate) + 1000)
return wait
