/**
 * What each fleet Lua script (`scripts.ts`) takes and gives back: the `ARGV` lists in their
 * order, and the replies checked and turned into values. {@linkcode RedisFleet} decides when to
 * call which; this module only speaks the scripts' protocol over one {@linkcode RedisConnection}.
 *
 * @module
 */
import {
  FleetUnavailableError,
  type FleetVersion,
  type HostOutcome,
  type HostRecord,
  type RolloutStatus,
} from "./fleet.ts";
import type { RedisConnection } from "./_redis_connection.ts";
import { SCRIPTS } from "./scripts.ts";
import { type CheckedOptions, emptyStatus, lostSlotDetail } from "./_validate.ts";

const HOST_STATES: ReadonlySet<string> = new Set([
  "waiting",
  "restarting",
  "done",
  "failed",
  "skipped",
]);

/** A slot this host holds: the version and whether it is one of the version's canaries. */
export interface Held {
  version: FleetVersion;
  canary: boolean;
}

/** One group's scripts, called for one host over one connection. */
export class ScriptCalls {
  readonly #conn: RedisConnection;
  readonly #options: CheckedOptions;
  readonly #retentionMs: number;
  /** The group's key prefix, `releasemon:{<group>}:`. */
  readonly prefix: string;
  readonly #keys: string[];

  constructor(conn: RedisConnection, options: CheckedOptions, retentionMs: number) {
    this.#conn = conn;
    this.#options = options;
    this.#retentionMs = retentionMs;
    this.prefix = `releasemon:{${options.group}}:`;
    this.#keys = [`${this.prefix}slots`];
  }

  /** `["go", "1"|"0", epoch]`, `["halted", reason, epoch]` or `["wait", why, epoch]`. */
  async acquire(version: FleetVersion, epoch: string): Promise<string[]> {
    const o = this.#options;
    return _strings(
      await this.#eval("acquire", [
        o.hostId,
        version.hash,
        version.label,
        String(o.maxParallel),
        String(o.canary),
        String(o.leaseMs),
        String(o.waiterTtlMs),
        String(this.#retentionMs),
        epoch,
        String(Math.ceil(o.leaseMs / 2)),
      ]),
      "acquire",
    );
  }

  /** `"renewed"`, `"recreated"`, `"gone"` or `"lost"` (see the script). */
  renew(held: Held, epoch: string): Promise<unknown> {
    return this.#eval("renew", [
      this.#options.hostId,
      held.version.hash,
      held.version.label,
      String(this.#options.leaseMs),
      held.canary ? "1" : "0",
      String(this.#retentionMs),
      String(this.#options.maxParallel),
      epoch,
    ]);
  }

  /** Records `outcome` once; `lost`: this host lost its slot before it finished. */
  async finish(
    version: FleetVersion,
    outcome: HostOutcome,
    canary: boolean,
    lost: boolean,
  ): Promise<void> {
    await this.#eval("finish", [
      this.#options.hostId,
      version.hash,
      version.label,
      outcome.outcome,
      outcome.ok ? "1" : "0",
      lost ? lostSlotDetail(outcome.detail) : outcome.detail,
      canary ? "1" : "0",
      String(this.#retentionMs),
    ]);
  }

  /** Leaves the queue and any slot; `what` is the record's detail. */
  async release(what: string): Promise<void> {
    await this.#eval("release", [this.#options.hostId, what]);
  }

  /** Gives the slot back and heartbeats as a waiter; false when no longer registered. */
  async standBy(version: FleetVersion): Promise<boolean> {
    const reply = await this.#eval("standBy", [
      this.#options.hostId,
      version.hash,
      String(this.#options.waiterTtlMs),
    ]);
    return reply === 1;
  }

  /** `["ok"]`, or `["taken", instance, pttl]` when another process holds the host id. */
  async claim(token: string): Promise<string[]> {
    const o = this.#options;
    return _strings(
      await this.#eval("claim", [o.hostId, token, o.instance, String(o.leaseMs)]),
      "claim",
    );
  }

  /** Drops the host id's claim if `token` holds it. */
  async unclaim(token: string): Promise<void> {
    await this.#eval("unclaim", [this.#options.hostId, token]);
  }

  async status(versionHash?: string): Promise<RolloutStatus> {
    return _parseStatus(this.#options.group, await this.#eval("status", [versionHash ?? ""]));
  }

  /** True when a halt was cleared. */
  async resume(versionHash?: string): Promise<boolean> {
    return (await this.#eval("resume", [versionHash ?? ""])) === 1;
  }

  #eval(script: keyof typeof SCRIPTS, args: string[]): Promise<unknown> {
    return this.#conn.eval(SCRIPTS[script], this.#keys, [this.prefix, ...args]);
  }
}

function _strings(reply: unknown, script: string): string[] {
  if (!Array.isArray(reply) || !reply.every((item) => typeof item === "string")) {
    throw new FleetUnavailableError(`Cannot read the ${script} script's answer: unexpected shape`);
  }
  return reply;
}

function _pairs(flat: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(flat)) return map;
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), String(flat[i + 1]));
  return map;
}

/** Turns the status script's answer into a RolloutStatus; tolerates odd records. */
function _parseStatus(group: string, reply: unknown): RolloutStatus {
  if (!Array.isArray(reply) || reply.length < 4) {
    throw new FleetUnavailableError("Cannot read the status script's answer: unexpected shape");
  }
  const [hash, metaFlat, hostsFlat, slotsRaw] = reply;
  const slots = Array.isArray(slotsRaw) ? slotsRaw.map(String) : [];
  if (typeof hash !== "string" || hash === "") return emptyStatus(group, slots);
  const meta = _pairs(metaFlat);
  const reason = meta.get("haltReason");
  const halted = reason === undefined ? null : {
    reason,
    by: meta.get("haltBy") ?? "",
    at: Number(meta.get("haltAt") ?? 0),
  };
  const hosts: (HostRecord & { ticket: number })[] = [];
  for (const [hostId, raw] of _pairs(hostsFlat)) {
    let rec: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null && typeof parsed === "object") rec = parsed as Record<string, unknown>;
    } catch {
      // A record we cannot read still lists the host.
    }
    const state = typeof rec.state === "string" && HOST_STATES.has(rec.state)
      ? rec.state as HostRecord["state"]
      : "waiting";
    hosts.push({
      hostId,
      state,
      outcome: typeof rec.outcome === "string" ? rec.outcome : null,
      detail: typeof rec.detail === "string" ? rec.detail : "",
      at: typeof rec.at === "number" ? rec.at : 0,
      ticket: typeof rec.ticket === "number" ? rec.ticket : Number.MAX_SAFE_INTEGER,
    });
  }
  hosts.sort((a, b) => a.ticket - b.ticket || a.hostId.localeCompare(b.hostId));
  return {
    group,
    version: { hash, label: meta.get("label") ?? "" },
    halted,
    hosts: hosts.map(({ ticket: _ticket, ...host }) => host),
    slots,
  };
}
