-- browser-stream control bus: every change of pairing and control state is one call of this
-- script, so it is atomic across replicas (see control/redis.rs for the data model).
-- ARGV: op, prefix, session id, grace ms, socket ttl ms, then op arguments.
local op, P, sess = ARGV[1], ARGV[2], ARGV[3]
local grace_ms, ttl_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local STATE_TTL_MS = 86400000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local GRACE = P .. 'grace'
local CHANNEL = P .. 'control'

local function ctl_key(s) return P .. 'ctl:' .. s end
local function viewers_key(s) return P .. 'viewers:' .. s end
local function live_key(s, client) return P .. 'live:' .. s .. ':' .. client end
local function opt(v) if v then return v end return nil end
-- Generations follow the Redis clock (ms) and always grow, so they keep growing across a
-- Redis restart or an expired hash, and replicas never mistake a new state for an old one.
local function bump(key)
  local g = math.max((tonumber(redis.call('HGET', key, 'g')) or 0) + 1, now)
  redis.call('HSET', key, 'g', string.format('%d', g))
  redis.call('PEXPIRE', key, STATE_TTL_MS)
end
local function schedule(s, at)
  redis.call('ZADD', GRACE, at, s)
  redis.call('PEXPIRE', GRACE, STATE_TTL_MS)
end

local function current(s)
  local f = redis.call('HMGET', ctl_key(s), 'h', 'p', 'r', 't', 'g', 'o', 'hg')
  return cjson.encode({s = s, h = opt(f[1]), p = opt(f[2]), r = f[3] or '',
    t = tonumber(f[4]) or 0, g = tonumber(f[5]) or 0, o = opt(f[6]), hg = tonumber(f[7]) or 0})
end

local function publish(s)
  local msg = current(s)
  redis.call('PUBLISH', CHANNEL, msg)
  return msg
end

local function change(s, holder, reason)
  local key = ctl_key(s)
  local prev = redis.call('HGET', key, 'h')
  if holder then redis.call('HSET', key, 'h', holder) else redis.call('HDEL', key, 'h') end
  if prev then redis.call('HSET', key, 'p', prev) else redis.call('HDEL', key, 'p') end
  redis.call('HSET', key, 'r', reason, 't', now)
  bump(key)
  redis.call('HDEL', key, 'd')
end

-- The grace rule: a holder without live sockets keeps control until its deadline `d`.
-- Returns true when control went back to the agent.
local function check(s)
  local key = ctl_key(s)
  local holder = redis.call('HGET', key, 'h')
  if not holder then
    redis.call('ZREM', GRACE, s)
    return false
  end
  local live = live_key(s, holder)
  redis.call('ZREMRANGEBYSCORE', live, '-inf', now)
  if redis.call('ZCARD', live) > 0 then
    redis.call('HDEL', key, 'd')
    -- Look again when its sockets would expire (their replica may die without telling).
    schedule(s, now + math.floor(ttl_ms / 3))
    return false
  end
  local deadline = tonumber(redis.call('HGET', key, 'd'))
  if not deadline then
    deadline = now + grace_ms
    redis.call('HSET', key, 'd', deadline)
  end
  if now >= deadline then
    redis.call('ZREM', GRACE, s)
    change(s, nil, 'grace-expired')
    return true
  end
  schedule(s, deadline)
  return false
end

if op == 'get' then
  return current(sess)
elseif op == 'take' then
  local client = ARGV[6]
  local holder = redis.call('HGET', ctl_key(sess), 'h')
  local reason = ''
  if holder and holder ~= client then reason = 'taken-by-another-viewer' end
  change(sess, client, reason)
  check(sess)
  return publish(sess)
elseif op == 'cede' then
  local client = ARGV[6]
  if redis.call('HGET', ctl_key(sess), 'h') == client then
    change(sess, nil, 'ceded')
  else
    bump(ctl_key(sess))
  end
  check(sess)
  return publish(sess)
elseif op == 'register' then
  local sock, id, client = P .. 'sock:' .. ARGV[6], ARGV[7], ARGV[8]
  local old = redis.call('GET', sock)
  redis.call('SET', sock, id, 'PX', ttl_ms)
  local live = live_key(sess, client)
  redis.call('ZADD', live, now + ttl_ms, id)
  redis.call('PEXPIRE', live, ttl_ms)
  redis.call('ZADD', viewers_key(sess), now + ttl_ms, id)
  redis.call('PEXPIRE', viewers_key(sess), ttl_ms)
  if check(sess) then publish(sess) end
  return {old or '', current(sess)}
elseif op == 'refresh' then
  -- ARGV[9] = '1' reclaims a slot and liveness lost with Redis (after a reconnect).
  local sock, id, client, reclaim = P .. 'sock:' .. ARGV[6], ARGV[7], ARGV[8], ARGV[9] == '1'
  local cur = redis.call('GET', sock)
  if cur == id or (reclaim and not cur) then redis.call('SET', sock, id, 'PX', ttl_ms) end
  local live = live_key(sess, client)
  local viewers = viewers_key(sess)
  if reclaim then
    redis.call('ZADD', live, now + ttl_ms, id)
    redis.call('ZADD', viewers, now + ttl_ms, id)
  else
    redis.call('ZADD', live, 'XX', now + ttl_ms, id)
    redis.call('ZADD', viewers, 'XX', now + ttl_ms, id)
  end
  redis.call('PEXPIRE', live, ttl_ms)
  redis.call('PEXPIRE', viewers, ttl_ms)
  redis.call('PEXPIRE', ctl_key(sess), STATE_TTL_MS)
  return 1
elseif op == 'deregister' then
  local sock, id, client = P .. 'sock:' .. ARGV[6], ARGV[7], ARGV[8]
  if redis.call('GET', sock) == id then redis.call('DEL', sock) end
  redis.call('ZREM', live_key(sess, client), id)
  redis.call('ZREM', viewers_key(sess), id)
  if check(sess) then publish(sess) end
  return 1
elseif op == 'viewers' then
  redis.call('ZREMRANGEBYSCORE', viewers_key(sess), '-inf', now)
  return redis.call('ZCARD', viewers_key(sess))
elseif op == 'handoff' then
  -- ARGV: mode ('open' or 'update'), the id that must be open (update), the new record
  -- (JSON, built by the gateway), the client that must hold control ('' for none).
  local key = ctl_key(sess)
  local mode, id, record, by = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
  local stored = redis.call('HGET', key, 'o')
  -- A missing field is `false` in Redis Lua, not nil.
  local open = stored and cjson.decode(stored)
  if open and open['end'] ~= nil then open = false end
  local ok
  if mode == 'open' then
    ok = not open
  else
    ok = open and open['id'] == id and (by == '' or redis.call('HGET', key, 'h') == by)
  end
  if not ok then return {0, current(sess)} end
  redis.call('HSET', key, 'o', record)
  local hg = math.max((tonumber(redis.call('HGET', key, 'hg')) or 0) + 1, now)
  redis.call('HSET', key, 'hg', string.format('%d', hg))
  redis.call('PEXPIRE', key, STATE_TTL_MS)
  -- The person finished: control goes back to the agent.
  if by ~= '' then
    change(sess, nil, 'ceded')
    check(sess)
  end
  return {1, publish(sess)}
elseif op == 'lookup' then
  return redis.call('GET', P .. 'sock:' .. ARGV[6]) or ''
elseif op == 'sweep' then
  local due = redis.call('ZRANGEBYSCORE', GRACE, '-inf', now, 'LIMIT', 0, 64)
  for _, s in ipairs(due) do
    if check(s) then publish(s) end
  end
  return #due
end
return redis.error_reply('unknown op ' .. tostring(op))
