-- reports. KEYS: rep, repj. ARGV: how many, at most.
-- Returns the newest reports' JSON, newest first.
local n = tonumber(ARGV[1])
if n <= 0 then
  return {}
end
local entries = redis.call('LRANGE', KEYS[1], 0, n - 1)
local out = {}
-- HMGET in slices: unpack has a limit on how many values it returns.
for i = 1, #entries, 500 do
  local slice = {}
  for k = i, math.min(i + 499, #entries) do
    slice[#slice + 1] = entries[k]
  end
  for _, j in ipairs(redis.call('HMGET', KEYS[2], unpack(slice))) do
    if j then
      out[#out + 1] = j
    end
  end
end
return out
