/**
 * The Lua helpers every fleet script starts with (`scripts.ts` prepends them): the key names, the
 * time from Redis (`NOW`), host records, halting, leaving and expiring hosts, epochs and versions.
 *
 * @module
 */

/** Helpers shared by every script (prepended to each). */
export const PRELUDE = `
local P = ARGV[1]
local T = redis.call('TIME')
local NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local SLOTS, QUEUE, WAITERS, HOSTVER = P .. 'slots', P .. 'queue', P .. 'waiters', P .. 'hostver'
local TICKET, LATEST, EPOCH, GRACE, WAKE = P .. 'ticket', P .. 'latest', P .. 'epoch', P .. 'grace', P .. 'wake'
local FINAL = { done = true, failed = true, skipped = true }

local function vkey(hash, part) return P .. 'v:' .. hash .. part end

local function get_record(hash, host)
  local raw = redis.call('HGET', vkey(hash, ':hosts'), host)
  if raw then
    local rec = cjson.decode(raw)
    rec.role = rec.role or ''
    rec.detail = rec.detail or ''
    return rec
  end
  return nil
end

local function put_record(hash, host, rec)
  rec.at = NOW
  redis.call('HSET', vkey(hash, ':hosts'), host, cjson.encode(rec))
end

local function new_record(role)
  return { ticket = redis.call('INCR', TICKET), role = role, state = 'waiting', detail = '' }
end

-- First halt wins: later reasons are dropped.
local function halt(hash, reason, by)
  local meta = vkey(hash, '')
  if redis.call('HSETNX', meta, 'haltReason', reason) == 1 then
    redis.call('HSET', meta, 'haltBy', by, 'haltAt', NOW)
    redis.call('PUBLISH', WAKE, 'halt')
  end
end

-- Drops every group-level trace of the host (slot, queue place, heartbeat, version).
local function leave(host)
  local held = redis.call('ZREM', SLOTS, host) == 1
  redis.call('ZREM', QUEUE, host)
  redis.call('ZREM', WAITERS, host)
  redis.call('HDEL', HOSTVER, host)
  if held then redis.call('PUBLISH', WAKE, 'slot') end
end

-- A canary that goes away mid-restart halts its version: nobody knows how its restart ended.
local function lose_canary(hash, host, rec, what)
  rec.state, rec.outcome = 'failed', 'lost'
  rec.detail = what .. ' before finishing'
  put_record(hash, host, rec)
  halt(hash, 'canary host "' .. host .. '" ' .. what .. ' before finishing', host)
end

-- The host stopped renewing its lease or heartbeating: free its place; a canary halts.
local function expire(host, what)
  local hash = redis.call('HGET', HOSTVER, host)
  leave(host)
  if not hash then return end
  local rec = get_record(hash, host)
  if not rec or FINAL[rec.state] then return end
  if rec.role == 'canary' then
    lose_canary(hash, host, rec, what)
  else
    rec.detail = what
    put_record(hash, host, rec)
  end
end

-- The host leaves on purpose (abort, close, a newer version): a waiting canary gives up its
-- role; a restarting canary is lost.
local function quit(host, what)
  local hash = redis.call('HGET', HOSTVER, host)
  leave(host)
  if not hash then return end
  local rec = get_record(hash, host)
  if not rec or FINAL[rec.state] then return end
  if rec.role == 'canary' and rec.state == 'restarting' then
    lose_canary(hash, host, rec, what)
    return
  end
  if rec.role == 'canary' then
    redis.call('SREM', vkey(hash, ':canaries'), host)
    rec.role = ''
  end
  rec.detail = what
  put_record(hash, host, rec)
end

local function cleanup()
  for _, host in ipairs(redis.call('ZRANGEBYSCORE', SLOTS, '-inf', NOW)) do
    expire(host, 'stopped renewing its lease')
  end
  for _, host in ipairs(redis.call('ZRANGEBYSCORE', WAITERS, '-inf', NOW)) do
    expire(host, 'stopped heartbeating')
  end
end

local function ensure_epoch()
  local epoch = redis.call('GET', EPOCH)
  if not epoch then
    epoch = tostring(NOW)
    redis.call('SET', EPOCH, epoch)
  end
  return epoch
end

-- Creates the version's record if missing; the newest arrival moves 'latest' (move_latest),
-- a late renewal or finish only sets it when it is missing.
local function ensure_version(hash, label, retention_ms, move_latest)
  local meta = vkey(hash, '')
  if redis.call('EXISTS', meta) == 0 then
    redis.call('HSET', meta, 'hash', hash, 'label', label, 'createdAt', NOW)
    if move_latest then
      redis.call('SET', LATEST, hash)
    else
      redis.call('SET', LATEST, hash, 'NX')
    end
  end
  for _, part in ipairs({ '', ':hosts', ':canaries' }) do
    redis.call('PEXPIRE', vkey(hash, part), retention_ms)
  end
end
`;
