/**
 * The Lua scripts of a host's way through a rollout: acquire a slot, renew its lease, finish with
 * an outcome, release (leave the queue) and stand by (give the slot back, keep the place).
 *
 * @module
 */

import { LOST_SLOT_DETAIL } from "./_validate.ts";

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
export const ACQUIRE = `
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
export const RENEW = `
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
export const FINISH = `
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
export const RELEASE = `
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
export const STAND_BY = `
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
