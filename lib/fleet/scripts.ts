/**
 * The Lua scripts behind {@linkcode RedisFleet}: each fleet operation is one atomic script, and
 * every script reads the time from Redis (`TIME`), so leases never depend on host clocks.
 *
 * Key layout (prefix `releasemon:{<group>}:`; the `{group}` hash tag keeps a group's keys together):
 *
 * | key | type | content |
 * |---|---|---|
 * | `slots` | zset | slot holders, score = lease expiry (server ms) |
 * | `queue` | zset | hosts eligible for a slot, score = arrival ticket (FIFO) |
 * | `waiters` | zset | waiting hosts, score = heartbeat expiry (server ms) |
 * | `hostver` | hash | host → hash of the version it waits for or restarts |
 * | `ticket` | string | INCR counter giving arrival tickets |
 * | `latest` | string | hash of the newest version seen |
 * | `epoch` | string | server ms when this data set was born (detects a Redis that lost its data) |
 * | `grace` | string | present (with a TTL) while holders re-create leases after a data loss |
 * | `wake` | channel | published on every change a waiter may care about |
 * | `v:<hash>` | hash | hash, label, createdAt, haltReason, haltBy, haltAt |
 * | `v:<hash>:hosts` | hash | host → JSON {state, outcome, detail, at, ticket, role} |
 * | `v:<hash>:canaries` | set | the version's canary hosts (the first N to arrive) |
 * | `id:<host>` | string | the live process using that host id: random token, newline, who (TTL: a lease) |
 *
 * Each script takes the prefix as `ARGV[1]` and builds its keys from it; `KEYS[1]` is the group's
 * `slots` key, declared so a proxy routes the call to the right server. Memory twin:
 * `tests/support/memory_fleet_engine.ts` implements the same rules in TypeScript; keep the two in step.
 *
 * @module
 */

import { LOST_SLOT_DETAIL } from "./_validate.ts";

/** Helpers shared by every script (prepended to each). */
const PRELUDE = `
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

/**
 * acquire: ARGV = prefix, host, hash, label, maxParallel, canary, leaseMs, waiterTtlMs,
 * retentionMs, knownEpoch, graceMs. Returns {"go", "1"|"0" (canary), epoch},
 * {"halted", reason, epoch} or {"wait", why ("slot"|"canary"|"grace"), epoch}.
 *
 * Order: expire dead hosts; a holder asking again renews; a halted version answers "halted";
 * register (arrival ticket, heartbeat); the first `canary` arrivals become canaries; others wait
 * while a canary is still in progress; eligible hosts queue by ticket and the first
 * `free slots` of the queue take one.
 */
const ACQUIRE = `
local host, hash, label = ARGV[2], ARGV[3], ARGV[4]
local max_parallel, canary_n = tonumber(ARGV[5]), tonumber(ARGV[6])
local lease_ms, waiter_ttl_ms, retention_ms = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local known_epoch, grace_ms = ARGV[10], tonumber(ARGV[11])
cleanup()
local epoch = ensure_epoch()
if known_epoch ~= '' and known_epoch ~= epoch then
  -- This host saw an older data set: Redis lost its data. Hold grants for a while so that
  -- hosts still restarting re-create their leases before anyone else takes their slot.
  local left = tonumber(epoch) + grace_ms - NOW
  if left > 0 then redis.call('SET', GRACE, '1', 'PX', left, 'NX') end
end
local in_grace = redis.call('EXISTS', GRACE) == 1
ensure_version(hash, label, retention_ms, true)
local current = redis.call('HGET', HOSTVER, host)
if current and current ~= hash then
  quit(host, 'moved on to a newer version')
  current = nil
end
local rec = get_record(hash, host)
if current == hash and redis.call('ZSCORE', SLOTS, host) then
  redis.call('ZADD', SLOTS, NOW + lease_ms, host)
  return { 'go', (rec and rec.role == 'canary') and '1' or '0', epoch }
end
local reason = redis.call('HGET', vkey(hash, ''), 'haltReason')
if reason then
  leave(host)
  if not rec or not FINAL[rec.state] then
    rec = rec or new_record('')
    rec.state, rec.outcome, rec.detail = 'skipped', 'skipped', reason
    put_record(hash, host, rec)
  end
  return { 'halted', reason, epoch }
end
local dirty = false
if not rec or FINAL[rec.state] then
  rec = new_record(rec and rec.role or '')
  dirty = true
end
redis.call('HSET', HOSTVER, host, hash)
redis.call('ZADD', WAITERS, NOW + waiter_ttl_ms, host)
local canaries = vkey(hash, ':canaries')
if rec.role == '' and (canary_n <= 0 or not in_grace) then
  if canary_n > 0 and redis.call('SCARD', canaries) < canary_n then
    rec.role = 'canary'
    redis.call('SADD', canaries, host)
  else
    rec.role = 'regular'
  end
  dirty = true
end
local function wait(why)
  if dirty then put_record(hash, host, rec) end
  return { 'wait', why, epoch }
end
if rec.role == '' then return wait('grace') end
if rec.role ~= 'canary' then
  for _, canary in ipairs(redis.call('SMEMBERS', canaries)) do
    local crec = get_record(hash, canary)
    if crec and not FINAL[crec.state] and redis.call('HGET', HOSTVER, canary) == hash then
      redis.call('ZREM', QUEUE, host)
      return wait('canary')
    end
  end
end
redis.call('ZADD', QUEUE, 'NX', rec.ticket, host)
if in_grace then return wait('grace') end
local free = max_parallel - redis.call('ZCARD', SLOTS)
if free > 0 and redis.call('ZRANK', QUEUE, host) < free then
  redis.call('ZADD', SLOTS, NOW + lease_ms, host)
  redis.call('ZREM', QUEUE, host)
  redis.call('ZREM', WAITERS, host)
  rec.state, rec.detail = 'restarting', ''
  put_record(hash, host, rec)
  return { 'go', rec.role == 'canary' and '1' or '0', epoch }
end
return wait('slot')
`;

/**
 * renew: ARGV = prefix, host, hash, label, leaseMs, canary ("1"|"0"), retentionMs, maxParallel,
 * knownEpoch. Returns "renewed" when the host still held its slot; "recreated" when Redis lost
 * its data (a new epoch, no record) and a slot was free, so the lease and the record are made
 * again; "gone" when the host already finished the version or moved on; "lost" when its lease
 * expired (or no slot is free after a data loss): the slot may be someone else's now, so it is
 * never taken back and the count of holders never exceeds maxParallel.
 */
const RENEW = `
local host, hash, label = ARGV[2], ARGV[3], ARGV[4]
local lease_ms, retention_ms = tonumber(ARGV[5]), tonumber(ARGV[7])
local max_parallel, known_epoch = tonumber(ARGV[8]), ARGV[9]
cleanup()
local epoch = ensure_epoch()
local current = redis.call('HGET', HOSTVER, host)
if current == hash and redis.call('ZSCORE', SLOTS, host) then
  redis.call('ZADD', SLOTS, NOW + lease_ms, host)
  return 'renewed'
end
local rec = get_record(hash, host)
if rec and FINAL[rec.state] and rec.outcome ~= 'lost' then return 'gone' end
if current and current ~= hash then return 'gone' end
if not rec and known_epoch ~= epoch and redis.call('ZCARD', SLOTS) < max_parallel then
  ensure_version(hash, label, retention_ms, false)
  redis.call('ZADD', SLOTS, NOW + lease_ms, host)
  redis.call('HSET', HOSTVER, host, hash)
  redis.call('ZREM', QUEUE, host)
  redis.call('ZREM', WAITERS, host)
  rec = new_record(ARGV[6] == '1' and 'canary' or 'regular')
  rec.state, rec.detail = 'restarting', 'lease re-created after Redis lost the rollout record'
  if rec.role == 'canary' then redis.call('SADD', vkey(hash, ':canaries'), host) end
  put_record(hash, host, rec)
  return 'recreated'
end
if rec and not FINAL[rec.state] then
  rec.detail = '${LOST_SLOT_DETAIL}'
  put_record(hash, host, rec)
end
return 'lost'
`;

/**
 * finish: ARGV = prefix, host, hash, label, outcome, ok ("1"|"0"), detail, canary ("1"|"0"),
 * retentionMs. Records the outcome once (a second call changes nothing but still releases the
 * slot; a "lost" mark is overwritten by the real outcome), halts on failure (first wins) and
 * releases the slot. Returns 1 when this call recorded the outcome.
 */
const FINISH = `
local host, hash, label = ARGV[2], ARGV[3], ARGV[4]
local outcome, ok, detail = ARGV[5], ARGV[6] == '1', ARGV[7]
cleanup()
ensure_epoch()
ensure_version(hash, label, tonumber(ARGV[9]), false)
local rec = get_record(hash, host)
local first = not rec or not FINAL[rec.state] or rec.outcome == 'lost'
if first then
  rec = rec or new_record('')
  if ARGV[8] == '1' and rec.role ~= 'canary' then
    rec.role = 'canary'
    redis.call('SADD', vkey(hash, ':canaries'), host)
  end
  if outcome == 'skipped' then
    rec.state = 'skipped'
  elseif ok then
    rec.state = 'done'
  else
    rec.state = 'failed'
  end
  rec.outcome, rec.detail = outcome, detail
  put_record(hash, host, rec)
  if not ok and outcome ~= 'skipped' then
    local suffix = ''
    if detail ~= '' then suffix = ': ' .. detail end
    halt(hash, 'host "' .. host .. '" reported ' .. outcome .. suffix, host)
  end
end
local current = redis.call('HGET', HOSTVER, host)
if not current or current == hash then leave(host) end
redis.call('PUBLISH', WAKE, 'finish')
if first then return 1 end
return 0
`;

/** release: ARGV = prefix, host, what. The host leaves (abort or close). */
const RELEASE = `
cleanup()
quit(ARGV[2], ARGV[3])
return 1
`;

/**
 * stand_by: ARGV = prefix, host, hash, waiterTtlMs. The host gives its slot back (if held)
 * without an outcome and stays registered as a waiter (record "waiting", role and ticket kept,
 * out of the queue until it asks again); also its heartbeat while it stands by. Returns 1, or 0
 * when the host is not registered for this version any more (expired, finished or moved on).
 */
const STAND_BY = `
local host, hash = ARGV[2], ARGV[3]
cleanup()
if redis.call('HGET', HOSTVER, host) ~= hash then return 0 end
local rec = get_record(hash, host)
if not rec or FINAL[rec.state] then return 0 end
if redis.call('ZREM', SLOTS, host) == 1 then redis.call('PUBLISH', WAKE, 'slot') end
redis.call('ZREM', QUEUE, host)
redis.call('ZADD', WAITERS, NOW + tonumber(ARGV[4]), host)
local detail = 'gave its slot back; queues again when it can restart'
if rec.state ~= 'waiting' or rec.detail ~= detail then
  rec.state, rec.detail = 'waiting', detail
  put_record(hash, host, rec)
end
return 1
`;

/**
 * claim: ARGV = prefix, host, token, instance, ttlMs. Claims the host id for this process (key
 * `id:<host>` = token, newline, instance; TTL ttlMs), or refreshes its own claim. Returns {"ok"},
 * or {"taken", instance, pttl} when another process's live claim holds the id.
 */
const CLAIM = `
local key = P .. 'id:' .. ARGV[2]
local held = redis.call('GET', key)
if held then
  local sep = string.find(held, '\\n', 1, true)
  local token = sep and string.sub(held, 1, sep - 1) or held
  if token ~= ARGV[3] then
    return { 'taken', sep and string.sub(held, sep + 1) or '', tostring(redis.call('PTTL', key)) }
  end
end
redis.call('SET', key, ARGV[3] .. '\\n' .. ARGV[4], 'PX', ARGV[5])
return { 'ok' }
`;

/** unclaim: ARGV = prefix, host, token. Drops the host id's claim if this process holds it. */
const UNCLAIM = `
local key = P .. 'id:' .. ARGV[2]
local held = redis.call('GET', key)
if held and string.sub(held, 1, #ARGV[3] + 1) == ARGV[3] .. '\\n' then redis.call('DEL', key) end
return 1
`;

/** resume: ARGV = prefix, hash ("" = latest). Returns 1 when a halt was cleared. */
const RESUME = `
local hash = ARGV[2]
if hash == '' then hash = redis.call('GET', LATEST) or '' end
if hash == '' then return 0 end
if redis.call('HDEL', vkey(hash, ''), 'haltReason', 'haltBy', 'haltAt') > 0 then
  redis.call('PUBLISH', WAKE, 'resume')
  return 1
end
return 0
`;

/**
 * status: ARGV = prefix, hash ("" = latest). Returns {hash, meta (flat hash), hosts (flat hash
 * of JSON records), slot holders}; hash is "" when the group has no version yet.
 */
const STATUS = `
cleanup()
local hash = ARGV[2]
if hash == '' then hash = redis.call('GET', LATEST) or '' end
local slots = redis.call('ZRANGE', SLOTS, 0, -1)
if hash == '' then return { '', {}, {}, slots } end
return { hash, redis.call('HGETALL', vkey(hash, '')), redis.call('HGETALL', vkey(hash, ':hosts')), slots }
`;

/** A script: its name (for messages) and its source, prelude included. */
export interface LuaScript {
  name: string;
  source: string;
}

function _script(name: string, body: string): LuaScript {
  return { name, source: `${PRELUDE}\n${body}` };
}

export const SCRIPTS = {
  acquire: _script("acquire", ACQUIRE),
  renew: _script("renew", RENEW),
  finish: _script("finish", FINISH),
  release: _script("release", RELEASE),
  standBy: _script("stand_by", STAND_BY),
  claim: _script("claim", CLAIM),
  unclaim: _script("unclaim", UNCLAIM),
  resume: _script("resume", RESUME),
  status: _script("status", STATUS),
} as const;
