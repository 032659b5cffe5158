/**
 * Fleet-wide rollouts: the small interface the rest of releasemon sees. Every host of a fleet
 * runs releasemon with the same `--fleet-name`; for each new version they coordinate through an
 * engine (Redis: `redis_fleet.ts`; an in-memory one for tests: `tests/support/memory_fleet.ts`):
 *
 * - at most `maxParallel` hosts restart at once (a slot is a lease with a TTL, renewed while the
 *   host restarts, released after its post-restart command; slots are granted in arrival order);
 * - the first `canary` hosts to arrive for a version restart first, the others wait until those
 *   report success;
 * - a failure halts the version for the group: hosts that have not restarted yet skip it.
 *
 * @module
 */
import type { Outcome } from "../restart_report.ts";

/** A version as the fleet sees it: identity and label. */
export interface FleetVersion {
  hash: string;
  label: string;
}

export interface FleetOptions {
  /** The rollout group (`--fleet-name`). */
  group: string;
  /** This host (`--fleet-id`, default: hostname). */
  hostId: string;
  /** `--fleet-max`: hosts restarting at the same time, fleet-wide. @default 1 */
  maxParallel: number;
  /** `--fleet-canary`: hosts that restart first for each version. @default 0 */
  canary: number;
  /**
   * Lease TTL of a slot; renewed every third of it while held. Also the TTL of this process's
   * claim on `hostId`, so a crashed process's id is free again within one lease. @default 30_000
   */
  leaseMs?: number;
  /**
   * Who this process is, shown to a second process that tries to use the same `hostId`
   * (e.g. `pid 4242 on "web-1"`). @default ""
   */
  instance?: string;
}

/** What `acquire` decided. */
export type SlotDecision =
  | { kind: "go"; canary: boolean }
  | { kind: "halted"; reason: string };

/** How this host's restart of a version ended. */
export interface HostOutcome {
  /** The cycle's outcome; a version the fleet halted before this host restarted is "skipped". */
  outcome: Exclude<Outcome, "halted"> | "skipped";
  ok: boolean;
  /** Human detail: which program broke and why; stored in the rollout record. */
  detail: string;
}

/** One host in a rollout record. */
export interface HostRecord {
  hostId: string;
  state: "waiting" | "restarting" | "done" | "failed" | "skipped";
  outcome: string | null;
  detail: string;
  /** Epoch ms of the last change. */
  at: number;
}

export interface RolloutStatus {
  group: string;
  version: FleetVersion | null;
  halted: { reason: string; by: string; at: number } | null;
  hosts: HostRecord[];
  /** Hosts holding a slot right now. */
  slots: string[];
}

/** The engine is unreachable or answered with an error; callers retry or proceed per policy. */
export class FleetUnavailableError extends Error {
  override name = "FleetUnavailableError";
  /** True when the server refused our credentials: a person has to fix it. */
  readonly authRefused: boolean;
  constructor(message: string, options?: ErrorOptions & { authRefused?: boolean }) {
    super(message, options);
    this.authRefused = options?.authRefused ?? false;
  }
}

/**
 * Another live releasemon process already uses this host's `--fleet-id` in the group: retrying
 * cannot fix it, a person has to give each host a unique id.
 */
export class FleetIdentityError extends Error {
  override name = "FleetIdentityError";
}

export interface Fleet {
  /**
   * Registers this host for `version` (state "waiting") and resolves once it may restart: a slot
   * is held (renewed in the background until `finish`), and, if it is not a canary, the canaries
   * succeeded. Resolves `halted` as soon as the version is halted. Rejects with
   * FleetUnavailableError when the engine cannot be reached, and with the signal's reason on abort
   * (a slot taken meanwhile is released).
   */
  acquire(version: FleetVersion, signal: AbortSignal): Promise<SlotDecision>;
  /**
   * Records this host's outcome for `version`, halts the version when `!outcome.ok` (first
   * failure wins the halt reason), counts a canary success, and releases the slot if held.
   * Idempotent.
   */
  finish(version: FleetVersion, outcome: HostOutcome): Promise<void>;
  /**
   * Gives this host's slot for `version` back (if held) without recording an outcome and without
   * halting anything: renewals stop, and the host stays registered as "waiting" (a canary keeps
   * its role, so the others still wait for it) until a later `acquire` queues it again in its old
   * place. Meanwhile the engine keeps the host's heartbeat alive. For a host that cannot restart
   * right now (its supervisord is unreachable). Idempotent; rejects with FleetUnavailableError
   * when the engine cannot be reached (the heartbeat retries it in the background).
   */
  release(version: FleetVersion): Promise<void>;
  /** The rollout record of `versionHash`, or of the group's latest version when omitted. */
  status(versionHash?: string): Promise<RolloutStatus>;
  /** Clears the halt of `versionHash` (or of the latest version); true when one was cleared. */
  resume(versionHash?: string): Promise<boolean>;
  /** Releases any slot, stops renewals, closes connections. */
  close(): Promise<void>;
}
