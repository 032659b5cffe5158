/**
 * The restart state machine's cycle steps (lib/machine.ts): how a cycle starts, moves on to its
 * next step and ends. Pure; shared by the machine's event handlers.
 *
 * @module
 */
import { restartDelayMs } from "./delay.ts";
import type {
  Cycle,
  CycleDone,
  MachineCommand,
  MachineContext,
  MachineState,
  Transition,
  VersionRef,
} from "./_machine_types.ts";

export const same = (a: VersionRef | null, b: VersionRef | null) => a?.hash === b?.hash;

/** Whether `latest` is something to apply: not what runs, not a version given up on. */
export function wanted(state: MachineState): VersionRef | null {
  const version = state.latest;
  if (version === null || same(version, state.applied) || same(version, state.abandoned)) {
    return null;
  }
  return version;
}

/** From idle: begin a cycle for `latest` when it is something to apply. */
export function startCycle(state: MachineState, context: MachineContext): Transition {
  const version = wanted(state);
  if (version === null) return { state: { ...state, phase: "idle", cycle: null }, commands: [] };
  const cycle: Cycle = { version, previous: state.applied, attempt: 0 };
  const delayMs = restartDelayMs(context.fixedDelayMs, context.randomDelayMs, context.random);
  const timerId = state.timerId + 1;
  return {
    state: { ...state, phase: "delaying", cycle, timerId },
    commands: [
      log("info", "New version {version} (was {previous}); restarting in {delayMs}", {
        version: version.label,
        previous: cycle.previous?.label ?? null,
        delayMs,
      }),
      { type: "StartTimer", timerId, delayMs },
    ],
  };
}

/**
 * The first version after a start with no baseline: adopted as what runs, then judged by the
 * catch-up rule (lib/catch_up.ts), so a file that was only unreadable restarts nothing that
 * started after it appeared, while one a first deploy created restarts what started before it.
 * Once anything happened (a cycle ran), it is an ordinary new version.
 */
export function onBaselineFound(state: MachineState, version: VersionRef): Transition | null {
  if (state.phase !== "idle" || state.applied !== null || state.abandoned !== null) return null;
  return {
    state: { ...state, applied: version, latest: version },
    commands: [
      log(
        "info",
        "Version {version} found (none readable at start); restarting only the targets started before it appeared",
        { version: version.label },
      ),
      { type: "CatchUp", version },
    ],
  };
}

/** The same cycle for another version: everything learned about the old one is dropped. */
export function retarget(cycle: Cycle, version: VersionRef): Cycle {
  return { version, previous: cycle.previous, attempt: cycle.attempt };
}

/** The next step of a cycle: the fleet's slot first (with --fleet), then pre, then restart. */
export function proceed(state: MachineState, cycle: Cycle, context: MachineContext): Transition {
  if (context.fleet && cycle.fleet === undefined) {
    const waitId = state.waitId + 1;
    return {
      state: { ...state, phase: "fleet-wait", cycle, waitId, cancelling: false },
      commands: [{ type: "AcquireFleetSlot", waitId, version: cycle.version }],
    };
  }
  if (context.hasPreHook && !cycle.prepared) {
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

/** Ends the cycle before anything was restarted; the version is not retried until a newer one. */
export function abort(state: MachineState, reason: string, context: MachineContext): Transition {
  const cycle = state.cycle!;
  const logLine = log(
    "error",
    "Version {version} aborted: {reason}; programs left untouched",
    {
      version: cycle.version.label,
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

/** Runs the post command with the outcome (when there is one), then announces CycleDone. */
export function closeCycle(
  state: MachineState,
  done: CycleDone,
  context: MachineContext,
): Transition {
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

/** After post-restart (or without one): idle, or one more cycle for a version that came meanwhile. */
export function finishCycle(state: MachineState, context: MachineContext): Transition {
  const done = state.closing;
  const next = startCycle({ ...state, phase: "idle", cycle: null, closing: null }, context);
  return done ? { state: next.state, commands: [done, ...next.commands] } : next;
}

export function log(
  level: "debug" | "info" | "warning" | "error",
  message: string,
  properties?: Record<string, unknown>,
): MachineCommand {
  return properties ? { type: "Log", level, message, properties } : { type: "Log", level, message };
}
