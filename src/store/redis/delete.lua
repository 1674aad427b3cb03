-- delete_user. KEYS: u:<id>, repj, repby:<id>. ARGV: prefix, id.
-- Erases the text of the reports the user filed (details, and their own
-- lines of the transcript), then the identity, token and ban. Returns
-- 1, or 0 if there was no such user.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
for _, entry in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local j = redis.call('HGET', KEYS[2], entry)
  if j then
    local r = cjson.decode(j)
    r.details = ''
    local kept = {}
    for _, line in ipairs(r.transcript or {}) do
      if line.from ~= 'reporter' then
        kept[#kept + 1] = line
      end
    end
    r.transcript = kept
    -- (cjson writes an empty table as {}; the reader takes it as [].)
    redis.call('HSET', KEYS[2], entry, cjson.encode(r))
  end
end
forget(ARGV[1], ARGV[2])
return 1
