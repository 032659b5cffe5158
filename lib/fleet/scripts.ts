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
 * `slots` key, declared so a proxy routes the call to the right server. The shared helpers are in
 * `_lua_prelude.ts`, a host's rollout steps in `_lua_slots.ts`, host-id claims, status and resume in
 * `_lua_admin.ts`. Memory twin: `tests/support/memory_fleet_engine.ts` implements the same rules in TypeScript; keep
 * the two in step.
 *
 * @module
 */

import { PRELUDE } from "./_lua_prelude.ts";
import { ACQUIRE, FINISH, RELEASE, RENEW, STAND_BY } from "./_lua_slots.ts";
import { CLAIM, RESUME, STATUS, UNCLAIM } from "./_lua_admin.ts";

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
