/**
 * The restart state machine's vocabulary (lib/machine.ts): its state, the events it accepts and
 * the commands it gives, as data. Re-exported by `machine.ts`; import them from there.
 *
 * @module
 */
import type { Outcome, RestartReport } from "./restart_report.ts";

/** A version as the machine needs it: identity (hash) and a display label. */
export interface VersionRef {
  hash: string;
  label: string;
}

export type Phase =
  | "idle"
  | "delaying"
  | "fleet-wait"
  | "pre-restart"
  | "restarting"
  | "retrying"
  | "post-restart";

/** The cycle in progress: which version it applies and over which previous one. */
export interface Cycle {
  version: VersionRef;
  previous: VersionRef | null;
  /** Increments per retry while supervisord is unreachable. */
  attempt: number;
  /** Catch-up: restart only these namespecs (started before the version appeared). */
  only?: string[];
  /**
   * How the fleet let this cycle through (set only with --fleet): "slot" while this host holds a
   * slot for `version`, "uncoordinated" (--fleet-on-error proceed), "halted" (skipped here).
   * The fleet is told the outcome (CycleDone) only when it is set.
   */
  fleet?: "slot" | "uncoordinated" | "halted";
  /** The pre-restart command succeeded for `version`: a retry does not run it again. */
  prepared?: boolean;
}

export interface MachineState {
  phase: Phase;
  /** The version the targets run: the baseline at start, then each version a cycle applied. */
  applied: VersionRef | null;
  /** The newest version seen; a cycle starts when it differs from `applied`. */
  latest: VersionRef | null;
  cycle: Cycle | null;
  /** Versions whose cycle was aborted (pre-restart failed) are not retried until a newer one. */
  abandoned: VersionRef | null;
  /** Identifies the timer the machine waits for; a stale TimerFired is ignored. */
  timerId: number;
  /** Identifies the fleet wait the machine waits for; a stale answer is ignored (or released). */
  waitId: number;
  /** In fleet-wait: the wait was cancelled for a newer version; its answer is awaited first. */
  cancelling: boolean;
  /** How the running cycle ended, announced (CycleDone) once its post command is done. */
  closing: CycleDone | null;
}

/** The end of a cycle, for whoever keeps score (the fleet): after the post command. */
export interface CycleDone {
  type: "CycleDone";
  cycle: Cycle;
  outcome: Outcome;
  report: RestartReport | null;
  reason?: string;
}

/** A step whose exception ends the cycle in its phase (pre-restart, restarting, post-restart). */
export type Step = "pre-restart" | "restarting" | "post-restart";

export type MachineEvent =
  | { type: "VersionSeen"; version: VersionRef }
  | { type: "CatchUpNeeded"; version: VersionRef; namespecs: string[] }
  /**
   * The first version read after a start with no baseline (the file was missing, unreadable or
   * empty then): what runs may already be it, so only the catch-up rule may restart.
   */
  | { type: "BaselineFound"; version: VersionRef }
  | { type: "TimerFired"; timerId: number }
  | { type: "FleetSlotGranted"; waitId: number; version: VersionRef; canary: boolean }
  | { type: "FleetHalted"; waitId: number; version: VersionRef; reason: string }
  | { type: "FleetUncoordinated"; waitId: number; version: VersionRef }
  /** The wait ended without an answer: cancelled (CancelFleetWait), or it failed (`reason`). */
  | { type: "FleetWaitEnded"; waitId: number; reason?: string }
  | { type: "PreHookDone"; ok: boolean; reason?: string }
  | { type: "RestartDone"; report: RestartReport }
  /** `needsPerson`: the socket refused access or the password: an ERROR, still retried. */
  | { type: "RestartUnavailable"; reason: string; needsPerson?: boolean }
  /** The answer to CheckSupervisor: whether supervisord answers again (`reason` when not). */
  | { type: "SupervisorChecked"; ok: boolean; reason?: string }
  | { type: "PostHookDone" }
  /** A step threw: an error nobody expected, e.g. a hook that could not be run at all. */
  | { type: "StepFailed"; step: Step; reason: string };

export type MachineCommand =
  | { type: "StartTimer"; timerId: number; delayMs: number }
  /** Find the targets started before `version` appeared; answered by CatchUpNeeded (if any). */
  | { type: "CatchUp"; version: VersionRef }
  | { type: "AcquireFleetSlot"; waitId: number; version: VersionRef }
  | { type: "CancelFleetWait"; waitId: number }
  | { type: "ReleaseFleetSlot"; version: VersionRef }
  /** Before queueing for a fleet slot again after an outage: does supervisord answer? */
  | { type: "CheckSupervisor" }
  | { type: "RunPreHook"; cycle: Cycle }
  | { type: "Restart"; cycle: Cycle }
  | {
    type: "RunPostHook";
    cycle: Cycle;
    outcome: Outcome;
    report: RestartReport | null;
    reason?: string;
  }
  | CycleDone
  | {
    type: "Log";
    level: "debug" | "info" | "warning" | "error";
    message: string;
    properties?: Record<string, unknown>;
  };

/** What the machine needs to know about the configuration, and its injected randomness. */
export interface MachineContext {
  fixedDelayMs: number;
  randomDelayMs: number;
  hasPreHook: boolean;
  hasPostHook: boolean;
  /** --fleet, and not a dry run: each cycle waits for a fleet slot (fleet-wait) first. */
  fleet: boolean;
  random: () => number;
}

export interface Transition {
  state: MachineState;
  commands: MachineCommand[];
}
