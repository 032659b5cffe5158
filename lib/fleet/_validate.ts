/**
 * Checks and texts shared by the fleet engines: options and versions, with RangeError messages
 * that name the bad value; record details and the lost-slot error. No I/O but logging.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import { checkPositive } from "../check.ts";
import { formatDuration } from "../delay.ts";
import {
  FleetIdentityError,
  type FleetOptions,
  type FleetVersion,
  type RolloutStatus,
} from "./fleet.ts";

/** Default lease TTL of a slot (`FleetOptions.leaseMs`). */
export const DEFAULT_LEASE_MS = 30_000;
/** Default poll interval of a waiting host. */
export const DEFAULT_POLL_MS = 100;
/** Default time a version's record is kept after its last change: a week. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A version hash becomes part of key names: keep it to a safe alphabet. */
const HASH = /^[A-Za-z0-9._-]{1,128}$/;

/** Options with defaults filled in and numbers checked. */
export interface CheckedOptions {
  group: string;
  hostId: string;
  maxParallel: number;
  canary: number;
  leaseMs: number;
  pollMs: number;
  /** A waiting host's heartbeat TTL: long enough for several polls, short next to a lease. */
  waiterTtlMs: number;
  /** Who this process is, for a second process with the same host id. */
  instance: string;
}

/** Validates {@linkcode FleetOptions} plus the poll interval; fills in defaults. */
export function checkOptions(
  options: FleetOptions & { pollMs?: number | undefined; waiterTtlMs?: number | undefined },
): CheckedOptions {
  const { group, hostId, maxParallel, canary } = options;
  if (group === "" || CONTROL.test(group) || /[{}]/.test(group)) {
    throw new RangeError(
      `Cannot use fleet name ${
        JSON.stringify(group)
      }: must be non-empty, without braces or control characters`,
    );
  }
  if (hostId === "" || CONTROL.test(hostId)) {
    throw new RangeError(
      `Cannot use fleet host id ${
        JSON.stringify(hostId)
      }: must be non-empty, without control characters`,
    );
  }
  if (!Number.isInteger(maxParallel) || maxParallel < 1) {
    throw new RangeError(`Cannot use fleet maximum "${maxParallel}": must be an integer >= 1`);
  }
  if (!Number.isInteger(canary) || canary < 0) {
    throw new RangeError(`Cannot use fleet canary count "${canary}": must be an integer >= 0`);
  }
  const leaseMs = checkPositive("leaseMs", options.leaseMs ?? DEFAULT_LEASE_MS);
  const pollMs = checkPositive("pollMs", options.pollMs ?? DEFAULT_POLL_MS);
  const waiterTtlMs = checkPositive(
    "waiterTtlMs",
    options.waiterTtlMs ?? Math.max(Math.round(leaseMs / 3), 5 * pollMs),
  );
  const instance = options.instance ?? "";
  return { group, hostId, maxParallel, canary, leaseMs, pollMs, waiterTtlMs, instance };
}

/** Validates a version before it becomes part of key names. */
export function checkVersion(version: FleetVersion): void {
  if (!HASH.test(version.hash)) {
    throw new RangeError(
      `Cannot use version hash ${
        JSON.stringify(version.hash.slice(0, 140))
      }: must be 1 to 128 letters, digits, ".", "_" or "-"`,
    );
  }
}

/**
 * Record detail of a host whose lease expired while it restarted (cut off from the engine longer
 * than the lease): the slot may be another host's now. Plain text: `scripts.ts` embeds it in Lua.
 */
export const LOST_SLOT_DETAIL =
  "lost its slot: the lease expired while it was restarting; another host may have restarted meanwhile";

/** The detail a host reports in `finish` after it lost its slot for the version. */
export function lostSlotDetail(detail: string): string {
  return detail === "" ? LOST_SLOT_DETAIL : `${detail}; ${LOST_SLOT_DETAIL}`;
}

/** The error a host logs when renewal finds its lease gone; it stops renewing. */
export function logLostSlot(version: FleetVersion): void {
  getLogger(["releasemon", "fleet"]).error(
    "Lost the fleet slot for version {version}: its lease expired before a renewal reached the fleet; another host may be restarting now",
    { version: version.label },
  );
}

/** The refusal when another live process holds this host's id; `pttlMs` is its claim's TTL. */
export function identityConflict(
  o: CheckedOptions,
  otherInstance: string,
  pttlMs: number,
): FleetIdentityError {
  const who = otherInstance === "" ? "another process" : otherInstance;
  const expiry = pttlMs > 0
    ? `; if that process is gone, the id is free within ${formatDuration(pttlMs)}`
    : "";
  return new FleetIdentityError(
    `Cannot join fleet ${JSON.stringify(o.group)} as ${
      JSON.stringify(o.hostId)
    }: another releasemon process already uses that id (${who}${expiry}); give each host a unique --fleet-id`,
  );
}

/** An empty status for a group without any version yet. */
export function emptyStatus(group: string, slots: string[]): RolloutStatus {
  return { group, version: null, halted: null, hosts: [], slots };
}
