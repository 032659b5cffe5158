/**
 * The Lua scripts around the rollout itself: a process's claim on its host id (claim, unclaim),
 * and what an operator asks for (status, resume).
 *
 * @module
 */

/**
 * claim: ARGV = prefix, host, token, instance, ttlMs. Claims the host id for this process (key
 * `id:<host>` = token, newline, instance; TTL ttlMs), or refreshes its own claim. Returns {"ok"},
 * or {"taken", instance, pttl} when another process's live claim holds the id.
 */
export const CLAIM = `
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
export const UNCLAIM = `
local key = P .. 'id:' .. ARGV[2]
local held = redis.call('GET', key)
if held and string.sub(held, 1, #ARGV[3] + 1) == ARGV[3] .. '\\n' then redis.call('DEL', key) end
return 1
`;

/** resume: ARGV = prefix, hash ("" = latest). Returns 1 when a halt was cleared. */
export const RESUME = `
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
export const STATUS = `
cleanup()
local hash = ARGV[2]
if hash == '' then hash = redis.call('GET', LATEST) or '' end
local slots = redis.call('ZRANGE', SLOTS, 0, -1)
if hash == '' then return { '', {}, {}, slots } end
return { hash, redis.call('HGETALL', vkey(hash, '')), redis.call('HGETALL', vkey(hash, ':hosts')), slots }
`;
