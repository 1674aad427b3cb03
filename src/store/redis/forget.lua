-- Shared by the scripts that drop an identity (insert's eviction, delete).
-- `p` is the key prefix with its colon; `id` a user id.
-- Removes the identity, its token, its ban, the reports index about it and
-- the index of the reports it filed (the reports themselves stay, as in
-- the memory store). Returns whether the identity existed.
local function forget(p, id)
  local uk = p .. 'u:' .. id
  local tok = redis.call('HGET', uk, 't')
  if tok then
    local tk = p .. 't:' .. tok
    if redis.call('GET', tk) == id then
      redis.call('DEL', tk)
    end
  end
  redis.call('ZREM', p .. 'lru', id)
  redis.call('DEL', p .. 'ban:' .. id, p .. 'rep:' .. id, p .. 'repby:' .. id)
  return redis.call('DEL', uk) == 1
end
