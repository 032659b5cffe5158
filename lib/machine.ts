/**
 * The restart state machine, pure: `transition(state, event, context)` returns the next state and
 * the commands to run, as data. Only `lib/run.ts` holds the current state, owns timers and runs
 * commands; it feeds their results back as events.
 *
 *   idle → delaying → pre-restart → restarting → post-restart → idle
 *                                    ↘ retrying (supervisord unreachable) ↗
 *
 * Settling happens one stage earlier, in the watcher (`lib/watch/settle.ts`): the machine sees
 * only settled versions. A version that arrives while a cycle runs is kept as `latest` and, when
 * the cycle ends, one more cycle runs for the newest one (coalesced). Never two restarts at once.
 *
 * @module
 */
import { backoffMs, formatDuration, restartDelayMs } from "./delay.ts";
import { quoteVersion } from "./log.ts";

/** A version as the machine needs it: identity (hash) and a display label. */
export interface VersionRef {
  hash: string;
  label: string;
}

export type Phase =
  | "idle"
  | "delaying"
  | "pre-restart"
  | "restarting"
  | "retrying"
  | "post-restart";

/** One program that failed to restart, with supervisord's reason. */
export interface ProgramFailure {
  namespec: string;
  reason: string;
}

/** What a restart did, one entry per program. */
export interface RestartReport {
  restarted: string[];
  failed: ProgramFailure[];
  /** Targets left alone, with why (STOPPED by the operator, not RUNNING with --running-only...). */
  skipped: { namespec: string; reason: string }[];
  /** Requested names or groups that matched nothing. */
  unknown: string[];
  /** True when a rolling restart halted on a failure (remaining programs untouched). */
  halted?: boolean;
  /** Targets a halted rollout did not touch: they still run the previous release. */
  untouched?: string[];
  /** Why nothing could be done for this version (e.g. supervisord's CANT_REREAD message). */
  error?: string;
  /** The fleet halted this version before this host restarted anything (the reason). */
  fleetHalted?: string;
  /** What `--update-config` did: programs re-created, added and removed. */
  config?: { recreated: string[]; added: string[]; removed: string[] };
}

export type Outcome = "success" | "partial" | "failed" | "aborted" | "halted";

/** The cycle in progress: which version it applies and over which previous one. */
export interface Cycle {
  version: VersionRef;
  previous: VersionRef | null;
  /** Increments per retry while supervisord is unreachable. */
  attempt: number;
  /** Catch-up: restart only these namespecs (started before the version appeared). */
  only?: string[];
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

export type MachineEvent =
  | { type: "VersionSeen"; version: VersionRef }
  | { type: "VersionMissing" }
  | { type: "CatchUpNeeded"; version: VersionRef; namespecs: string[] }
  | { type: "TimerFired"; timerId: number }
  | { type: "PreHookDone"; ok: boolean; reason?: string }
  | { type: "RestartDone"; report: RestartReport }
  | { type: "RestartUnavailable"; reason: string }
  | { type: "PostHookDone" };

export type MachineCommand =
  | { type: "StartTimer"; timerId: number; delayMs: number; purpose: "delay" | "retry" }
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
  random: () => number;
}

export interface Transition {
  state: MachineState;
  commands: MachineCommand[];
}

/** The state at start-up: the version read at start is the baseline, no restart for it. */
export function initialState(baseline: VersionRef | null): MachineState {
  return {
    phase: "idle",
    applied: baseline,
    latest: baseline,
    cycle: null,
    abandoned: null,
    timerId: 0,
    closing: null,
  };
}

const same = (a: VersionRef | null, b: VersionRef | null) => a?.hash === b?.hash;

/** The outcome a post-restart command is told, from a restart report. */
export function outcomeOf(report: RestartReport): Outcome {
  if (report.fleetHalted !== undefined) return "halted";
  // A halted rolling restart failed: post learns which program broke and what was left alone.
  if (report.halted || report.error !== undefined) return "failed";
  if (report.failed.length === 0) return "success";
  return report.restarted.length > 0 ? "partial" : "failed";
}

export function transition(
  state: MachineState,
  event: MachineEvent,
  context: MachineContext,
): Transition {
  switch (event.type) {
    case "VersionSeen":
      return onVersionSeen(state, event.version, context);
    case "VersionMissing":
      return { state, commands: [] };
    case "CatchUpNeeded":
      return onCatchUp(state, event.version, event.namespecs, context);
    case "TimerFired":
      return event.timerId === state.timerId ? onTimer(state, context) : { state, commands: [] };
    case "PreHookDone":
      return state.phase === "pre-restart"
        ? onPreHookDone(state, event, context)
        : unchanged(state);
    case "RestartDone":
      return state.phase === "restarting"
        ? onRestartDone(state, event.report, context)
        : unchanged(state);
    case "RestartUnavailable":
      return state.phase === "restarting" ? onUnavailable(state, event.reason) : unchanged(state);
    case "PostHookDone":
      return state.phase === "post-restart" ? finishCycle(state, context) : unchanged(state);
  }
}

function unchanged(state: MachineState): Transition {
  return { state, commands: [] };
}

function onVersionSeen(
  state: MachineState,
  version: VersionRef,
  context: MachineContext,
): Transition {
  if (same(version, state.latest)) return unchanged(state);
  const next = { ...state, latest: version };
  if (state.phase !== "idle") {
    // Kept as `latest`; the running cycle ends with one more cycle for it.
    return {
      state: next,
      commands: [log("info", "Version {version} seen while {phase}; it follows this cycle", {
        version: quoteVersion(version.label),
        phase: state.phase,
      })],
    };
  }
  return startCycle(next, context);
}

/**
 * A release landed while releasemon was not running: the targets still run the previous one.
 * Only from idle, and only while the file still holds the version it was found for; a newer
 * version restarts every target anyway.
 */
function onCatchUp(
  state: MachineState,
  version: VersionRef,
  namespecs: string[],
  context: MachineContext,
): Transition {
  if (state.phase !== "idle" || namespecs.length === 0) return unchanged(state);
  if (!same(version, state.latest) || !same(version, state.applied)) return unchanged(state);
  const cycle: Cycle = { version, previous: null, attempt: 0, only: namespecs };
  const delayMs = restartDelayMs(context.fixedDelayMs, context.randomDelayMs, context.random);
  const timerId = state.timerId + 1;
  return {
    state: { ...state, phase: "delaying", cycle, timerId },
    commands: [
      log(
        "warning",
        "Catch-up: {count} program(s) started before version {version} appeared; restarting them in {delay}: {programs}",
        {
          count: namespecs.length,
          version: quoteVersion(version.label),
          delayMs,
          programs: namespecs.join(" "),
          delay: formatDuration(delayMs),
        },
      ),
      { type: "StartTimer", timerId, delayMs, purpose: "delay" },
    ],
  };
}

/** From idle: begin a cycle for `latest` when it is something to apply. */
function startCycle(state: MachineState, context: MachineContext): Transition {
  const version = state.latest;
  if (version === null || same(version, state.applied) || same(version, state.abandoned)) {
    return { state: { ...state, phase: "idle", cycle: null }, commands: [] };
  }
  const cycle: Cycle = { version, previous: state.applied, attempt: 0 };
  const delayMs = restartDelayMs(context.fixedDelayMs, context.randomDelayMs, context.random);
  const timerId = state.timerId + 1;
  return {
    state: { ...state, phase: "delaying", cycle, timerId },
    commands: [
      log("info", "New version {version} (was {previous}); restarting in {delay}", {
        version: quoteVersion(version.label),
        previous: cycle.previous ? quoteVersion(cycle.previous.label) : "none",
        delay: formatDuration(delayMs),
      }),
      { type: "StartTimer", timerId, delayMs, purpose: "delay" },
    ],
  };
}

function onTimer(state: MachineState, context: MachineContext): Transition {
  if (state.phase === "delaying" && state.cycle) {
    // The newest version wins: a release that landed during the delay replaces the older one.
    const latest = state.latest;
    const catchingUp = state.cycle.only !== undefined && same(latest, state.cycle.version);
    if (latest === null || (same(latest, state.applied) && !catchingUp)) {
      return {
        state: { ...state, phase: "idle", cycle: null },
        commands: [log("info", "Version is back to {version}; nothing to restart", {
          version: state.applied ? quoteVersion(state.applied.label) : "none",
        })],
      };
    }
    // A newer version than the catch-up's one restarts every target: drop the restriction.
    const { only: _only, ...full } = state.cycle;
    const cycle: Cycle = catchingUp ? state.cycle : { ...full, version: latest };
    if (context.hasPreHook) {
      return {
        state: { ...state, phase: "pre-restart", cycle },
        commands: [{ type: "RunPreHook", cycle }],
      };
    }
    return {
      state: { ...state, phase: "restarting", cycle },
      commands: [{ type: "Restart", cycle }],
    };
  }
  if (state.phase === "retrying" && state.cycle) {
    // Nothing was restarted yet: a release that landed during the outage replaces this one.
    const version = state.latest ?? state.cycle.version;
    const { only: _only, ...full } = state.cycle;
    const cycle: Cycle = same(version, state.cycle.version) ? state.cycle : { ...full, version };
    return {
      state: { ...state, phase: "restarting", cycle },
      commands: [{ type: "Restart", cycle }],
    };
  }
  return unchanged(state);
}

function onPreHookDone(
  state: MachineState,
  event: { ok: boolean; reason?: string },
  context: MachineContext,
): Transition {
  const cycle = state.cycle!;
  if (event.ok) {
    return { state: { ...state, phase: "restarting" }, commands: [{ type: "Restart", cycle }] };
  }
  const reason = event.reason ?? "pre-restart command failed";
  const logLine = log(
    "error",
    "Restart for version {version} aborted: {reason}; programs left untouched",
    {
      version: quoteVersion(cycle.version.label),
      reason,
    },
  );
  const next = closeCycle(
    { ...state, abandoned: cycle.version },
    { type: "CycleDone", cycle, outcome: "aborted", report: null, reason },
    context,
  );
  return { state: next.state, commands: [logLine, ...next.commands] };
}

function onRestartDone(
  state: MachineState,
  report: RestartReport,
  context: MachineContext,
): Transition {
  const cycle = state.cycle!;
  const outcome = outcomeOf(report);
  const reason = report.error ?? report.fleetHalted;
  // Programs now run this version (or tried to): a failed program is not retried for the same
  // version — the next release (or --revive) deals with it. A version the fleet halted was not
  // applied here; like an aborted one, only a newer version (or a catch-up) retries it.
  const next: MachineState = report.fleetHalted === undefined
    ? { ...state, applied: cycle.version }
    : { ...state, abandoned: cycle.version };
  return closeCycle(next, {
    type: "CycleDone",
    cycle,
    outcome,
    report,
    ...(reason === undefined ? {} : { reason }),
  }, context);
}

/** Runs the post command with the outcome (when there is one), then announces CycleDone. */
function closeCycle(state: MachineState, done: CycleDone, context: MachineContext): Transition {
  if (context.hasPostHook) {
    const { type: _type, ...post } = done;
    return {
      state: { ...state, phase: "post-restart", closing: done },
      commands: [{ ...post, type: "RunPostHook" }],
    };
  }
  const next = finishCycle({ ...state, closing: done }, context);
  return next;
}

function onUnavailable(state: MachineState, reason: string): Transition {
  const cycle = { ...state.cycle!, attempt: state.cycle!.attempt + 1 };
  const delayMs = backoffMs(cycle.attempt - 1);
  const timerId = state.timerId + 1;
  // Log every retry for the first few, then only every 10th, so an outage does not flood.
  const commands: MachineCommand[] = [];
  if (cycle.attempt <= 3 || cycle.attempt % 10 === 0) {
    commands.push(
      log(
        "warning",
        "Cannot restart for version {version}: {reason}; retry {attempt} in {delay}",
        {
          version: quoteVersion(cycle.version.label),
          reason,
          attempt: cycle.attempt,
          delayMs,
          delay: formatDuration(delayMs),
        },
      ),
    );
  }
  commands.push({ type: "StartTimer", timerId, delayMs, purpose: "retry" });
  return { state: { ...state, phase: "retrying", cycle, timerId }, commands };
}

/** After post-restart (or without one): idle, or one more cycle for a version that came meanwhile. */
function finishCycle(state: MachineState, context: MachineContext): Transition {
  const done = state.closing;
  const next = startCycle({ ...state, phase: "idle", cycle: null, closing: null }, context);
  return done ? { state: next.state, commands: [done, ...next.commands] } : next;
}

function log(
  level: "debug" | "info" | "warning" | "error",
  message: string,
  properties?: Record<string, unknown>,
): MachineCommand {
  return properties ? { type: "Log", level, message, properties } : { type: "Log", level, message };
}
