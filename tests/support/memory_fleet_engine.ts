/**
 * The fleet rules over in-memory data: the TypeScript twin of the Lua scripts in `lib/fleet/scripts.ts`
 * (same steps, same names), used by `memory_fleet.ts`. Pure: time comes in as `now`.
 *
 * @module
 */
import type {
  FleetVersion,
  HostOutcome,
  HostRecord,
  RolloutStatus,
  SlotDecision,
} from "../../lib/fleet/fleet.ts";
import { type CheckedOptions, emptyStatus, LOST_SLOT_DETAIL } from "../../lib/fleet/_validate.ts";

/** The record state a finished outcome leads to. */
function finishedState(outcome: HostOutcome): HostRecord["state"] {
  if (outcome.outcome === "skipped") return "skipped";
  return outcome.ok ? "done" : "failed";
}

/** The halt reason of a failed outcome. */
function failureReason(hostId: string, outcome: HostOutcome): string {
  const suffix = outcome.detail === "" ? "" : `: ${outcome.detail}`;
  return `host "${hostId}" reported ${outcome.outcome}${suffix}`;
}

/** The halt reason when a canary goes away before finishing. */
function lostCanaryReason(hostId: string, what: string): string {
  return `canary host "${hostId}" ${what} before finishing`;
}

/** Record detail of a host that gave its slot back (`Fleet.release`); `lib/fleet/scripts.ts` has a copy. */
const STAND_BY_DETAIL = "gave its slot back; queues again when it can restart";

type Role = "" | "canary" | "regular";

interface _Record {
  state: HostRecord["state"];
  outcome: string | null;
  detail: string;
  at: number;
  ticket: number;
  role: Role;
}

interface _Version {
  hash: string;
  label: string;
  halt: { reason: string; by: string; at: number } | null;
  hosts: Map<string, _Record>;
  canaries: Set<string>;
}

export interface MemoryGroup {
  ticket: number;
  latest: string | null;
  /** host → lease expiry */
  slots: Map<string, number>;
  /** host → arrival ticket (eligible waiters) */
  queue: Map<string, number>;
  /** host → heartbeat expiry */
  waiters: Map<string, number>;
  hostver: Map<string, string>;
  versions: Map<string, _Version>;
  /** host id → the live process using it (`id:<host>` in Redis) */
  claims: Map<string, { token: string; instance: string; expiry: number }>;
  listeners: Set<() => void>;
}

const FINAL: ReadonlySet<string> = new Set(["done", "failed", "skipped"]);

/** Empty data for a new group. */
export function newGroup(): MemoryGroup {
  return {
    ticket: 0,
    latest: null,
    slots: new Map(),
    queue: new Map(),
    waiters: new Map(),
    hostver: new Map(),
    versions: new Map(),
    claims: new Map(),
    listeners: new Set(),
  };
}

/** The rules, over one group's data at one instant: a TypeScript twin of `scripts.ts`. */
export class MemoryEngine {
  readonly #g: MemoryGroup;
  readonly #now: number;

  constructor(group: MemoryGroup, now: number) {
    this.#g = group;
    this.#now = now;
    this.#cleanup();
  }

  acquire(o: CheckedOptions, version: FleetVersion): SlotDecision | { kind: "wait" } {
    const g = this.#g;
    const host = o.hostId;
    const v = this.#ensureVersion(version, true);
    if (g.hostver.has(host) && g.hostver.get(host) !== version.hash) {
      this.quit(host, "moved on to a newer version");
    }
    let rec = v.hosts.get(host);
    if (g.hostver.get(host) === version.hash && g.slots.has(host)) {
      g.slots.set(host, this.#now + o.leaseMs);
      return { kind: "go", canary: rec?.role === "canary" };
    }
    if (v.halt !== null) {
      this.#leave(host);
      if (rec === undefined || !FINAL.has(rec.state)) {
        rec ??= this.#newRecord("");
        Object.assign(rec, { state: "skipped", outcome: "skipped", detail: v.halt.reason });
        this.#put(v, host, rec);
      }
      return { kind: "halted", reason: v.halt.reason };
    }
    let dirty = false;
    if (rec === undefined || FINAL.has(rec.state)) {
      rec = this.#newRecord(rec?.role ?? "");
      dirty = true;
    }
    g.hostver.set(host, version.hash);
    g.waiters.set(host, this.#now + o.waiterTtlMs);
    if (rec.role === "") {
      if (o.canary > 0 && v.canaries.size < o.canary) {
        rec.role = "canary";
        v.canaries.add(host);
      } else {
        rec.role = "regular";
      }
      dirty = true;
    }
    const wait = () => {
      if (dirty) this.#put(v, host, rec);
      return { kind: "wait" as const };
    };
    if (rec.role !== "canary") {
      for (const canary of v.canaries) {
        const crec = v.hosts.get(canary);
        if (crec && !FINAL.has(crec.state) && g.hostver.get(canary) === version.hash) {
          g.queue.delete(host);
          return wait();
        }
      }
    }
    if (!g.queue.has(host)) g.queue.set(host, rec.ticket);
    const free = o.maxParallel - g.slots.size;
    if (free > 0 && this.#rank(host) < free) {
      g.slots.set(host, this.#now + o.leaseMs);
      g.queue.delete(host);
      g.waiters.delete(host);
      Object.assign(rec, { state: "restarting", detail: "" });
      this.#put(v, host, rec);
      return { kind: "go", canary: rec.role === "canary" };
    }
    return wait();
  }

  /**
   * Extends the holder's lease ("renewed"); "gone" when it finished or moved on; "lost" when its
   * lease expired: the slot is never taken back. (Memory never loses its data, so the Redis
   * engine's "recreated" has no twin here.)
   */
  renew(o: CheckedOptions, version: FleetVersion): "renewed" | "gone" | "lost" {
    const g = this.#g;
    const host = o.hostId;
    const current = g.hostver.get(host);
    if (current === version.hash && g.slots.has(host)) {
      g.slots.set(host, this.#now + o.leaseMs);
      return "renewed";
    }
    const v = g.versions.get(version.hash);
    const rec = v?.hosts.get(host);
    if (rec && FINAL.has(rec.state) && rec.outcome !== "lost") return "gone";
    if (current !== undefined && current !== version.hash) return "gone";
    if (v !== undefined && rec !== undefined && !FINAL.has(rec.state)) {
      rec.detail = LOST_SLOT_DETAIL;
      this.#put(v, host, rec);
    }
    return "lost";
  }

  finish(host: string, version: FleetVersion, outcome: HostOutcome, canary: boolean): void {
    const g = this.#g;
    const v = this.#ensureVersion(version, false);
    let rec = v.hosts.get(host);
    if (rec === undefined || !FINAL.has(rec.state) || rec.outcome === "lost") {
      rec ??= this.#newRecord("");
      if (canary && rec.role !== "canary") {
        rec.role = "canary";
        v.canaries.add(host);
      }
      Object.assign(rec, {
        state: finishedState(outcome),
        outcome: outcome.outcome,
        detail: outcome.detail,
      });
      this.#put(v, host, rec);
      if (!outcome.ok && outcome.outcome !== "skipped") {
        this.#halt(v, failureReason(host, outcome), host);
      }
    }
    const current = g.hostver.get(host);
    if (current === undefined || current === version.hash) this.#leave(host);
    this.#publish();
  }

  /**
   * The host gives its slot back without an outcome and stays a registered waiter (role and
   * ticket kept); also its heartbeat while it stands by. False when it is not registered for
   * `version` any more.
   */
  standBy(o: CheckedOptions, version: FleetVersion): boolean {
    const g = this.#g;
    const host = o.hostId;
    if (g.hostver.get(host) !== version.hash) return false;
    const v = g.versions.get(version.hash);
    const rec = v?.hosts.get(host);
    if (v === undefined || rec === undefined || FINAL.has(rec.state)) return false;
    if (g.slots.delete(host)) this.#publish();
    g.queue.delete(host);
    g.waiters.set(host, this.#now + o.waiterTtlMs);
    if (rec.state !== "waiting" || rec.detail !== STAND_BY_DETAIL) {
      Object.assign(rec, { state: "waiting", detail: STAND_BY_DETAIL });
      this.#put(v, host, rec);
    }
    return true;
  }

  /** The host leaves on purpose: a waiting canary gives up its role; a restarting one is lost. */
  quit(host: string, what: string): void {
    const hash = this.#g.hostver.get(host);
    this.#leave(host);
    const v = hash === undefined ? undefined : this.#g.versions.get(hash);
    const rec = v?.hosts.get(host);
    if (v === undefined || rec === undefined || FINAL.has(rec.state)) return;
    if (rec.role === "canary" && rec.state === "restarting") {
      this.#loseCanary(v, host, rec, what);
      return;
    }
    if (rec.role === "canary") {
      v.canaries.delete(host);
      rec.role = "";
    }
    rec.detail = what;
    this.#put(v, host, rec);
  }

  /** Claims (or refreshes) the host id for `token`; the other holder's claim when taken. */
  claim(
    o: CheckedOptions,
    token: string,
  ): { kind: "ok" } | { kind: "taken"; instance: string; pttlMs: number } {
    const held = this.#g.claims.get(o.hostId);
    if (held !== undefined && held.expiry > this.#now && held.token !== token) {
      return { kind: "taken", instance: held.instance, pttlMs: held.expiry - this.#now };
    }
    this.#g.claims.set(o.hostId, { token, instance: o.instance, expiry: this.#now + o.leaseMs });
    return { kind: "ok" };
  }

  /** Drops the host id's claim if `token` holds it. */
  unclaim(hostId: string, token: string): void {
    if (this.#g.claims.get(hostId)?.token === token) this.#g.claims.delete(hostId);
  }

  resume(versionHash?: string): boolean {
    const hash = versionHash ?? this.#g.latest;
    const v = hash === null ? undefined : this.#g.versions.get(hash);
    if (v === undefined || v.halt === null) return false;
    v.halt = null;
    this.#publish();
    return true;
  }

  status(group: string, versionHash?: string): RolloutStatus {
    const slots = [...this.#g.slots.entries()].sort((a, b) =>
      a[1] - b[1] || a[0].localeCompare(b[0])
    )
      .map(([host]) => host);
    const hash = versionHash ?? this.#g.latest;
    const v = hash === null ? undefined : this.#g.versions.get(hash);
    if (hash === null) return emptyStatus(group, slots);
    if (v === undefined) return { ...emptyStatus(group, slots), version: { hash, label: "" } };
    const hosts = [...v.hosts.entries()].sort((a, b) => a[1].ticket - b[1].ticket)
      .map(([hostId, r]) => ({
        hostId,
        state: r.state,
        outcome: r.outcome,
        detail: r.detail,
        at: r.at,
      }));
    return {
      group,
      version: { hash: v.hash, label: v.label },
      halted: v.halt === null ? null : { ...v.halt },
      hosts,
      slots,
    };
  }

  #cleanup(): void {
    for (const [host, expiry] of this.#g.slots) {
      if (expiry <= this.#now) this.#expire(host, "stopped renewing its lease");
    }
    for (const [host, expiry] of this.#g.waiters) {
      if (expiry <= this.#now) this.#expire(host, "stopped heartbeating");
    }
  }

  #expire(host: string, what: string): void {
    const hash = this.#g.hostver.get(host);
    this.#leave(host);
    const v = hash === undefined ? undefined : this.#g.versions.get(hash);
    const rec = v?.hosts.get(host);
    if (v === undefined || rec === undefined || FINAL.has(rec.state)) return;
    if (rec.role === "canary") {
      this.#loseCanary(v, host, rec, what);
    } else {
      rec.detail = what;
      this.#put(v, host, rec);
    }
  }

  #loseCanary(v: _Version, host: string, rec: _Record, what: string): void {
    Object.assign(rec, { state: "failed", outcome: "lost", detail: `${what} before finishing` });
    this.#put(v, host, rec);
    this.#halt(v, lostCanaryReason(host, what), host);
  }

  #leave(host: string): void {
    const g = this.#g;
    const held = g.slots.delete(host);
    g.queue.delete(host);
    g.waiters.delete(host);
    g.hostver.delete(host);
    if (held) this.#publish();
  }

  #halt(v: _Version, reason: string, by: string): void {
    if (v.halt !== null) return;
    v.halt = { reason, by, at: this.#now };
    this.#publish();
  }

  #ensureVersion(version: FleetVersion, moveLatest: boolean): _Version {
    let v = this.#g.versions.get(version.hash);
    if (v === undefined) {
      v = { ...version, halt: null, hosts: new Map(), canaries: new Set() };
      this.#g.versions.set(version.hash, v);
      if (moveLatest || this.#g.latest === null) this.#g.latest = version.hash;
    }
    return v;
  }

  #newRecord(role: Role): _Record {
    return {
      state: "waiting",
      outcome: null,
      detail: "",
      at: this.#now,
      ticket: ++this.#g.ticket,
      role,
    };
  }

  #put(v: _Version, host: string, rec: _Record): void {
    rec.at = this.#now;
    v.hosts.set(host, rec);
  }

  #rank(host: string): number {
    const ticket = this.#g.queue.get(host) ?? Infinity;
    let ahead = 0;
    for (const other of this.#g.queue.values()) if (other < ticket) ahead++;
    return ahead;
  }

  /** Wakes every waiter of the group (after the current step: listeners only resolve promises). */
  #publish(): void {
    for (const listener of [...this.#g.listeners]) listener();
  }
}
