/**
 * The restart state machine, pure: `transition(state, event, context)` returns the next state and
 * the commands to run, as data. Only `lib/run.ts` holds the current state, owns timers and runs
 * commands; it feeds their results back as events.
 *
 *   idle → delaying → [fleet-wait] → pre-restart → restarting → post-restart → idle
 *                          ↖ retrying (supervisord unreachable; slot released) ↙
 *
 * Settling happens one stage earlier, in the watcher (`lib/watch/settle.ts`): the machine sees
 * only settled versions. A version that arrives while a cycle runs is kept as `latest` and, when
 * the cycle ends, one more cycle runs for the newest one (coalesced). Never two restarts at once.
 *
 * With --fleet (not in a dry run) a cycle waits for a fleet slot after its delay (fleet-wait,
 * `_machine_fleet.ts`) and holds it until CycleDone, so the pre- and post-restart commands run
 * on at most --fleet-max hosts at once. A newer version seen while waiting replaces the awaited
 * one. Every step ends in an event the machine handles in its phase, its failures included: no
 * error leaves a cycle without an outcome.
 *
 * @module
 */
import { backoffMs, restartDelayMs } from "./delay.ts";
import {
  abort,
  closeCycle,
  finishCycle,
  log,
  onBaselineFound,
  proceed,
  retarget,
  same,
  startCycle,
} from "./_machine_cycle.ts";
import { loggedAttempt } from "./_retryable.ts";
import { onFleetAnswer, onStaleFleetAnswer } from "./_machine_fleet.ts";
import type {
  Cycle,
  MachineCommand,
  MachineContext,
  MachineEvent,
  MachineState,
  Step,
  Transition,
  VersionRef,
} from "./_machine_types.ts";
import type { Outcome, RestartReport } from "./restart_report.ts";

export type * from "./_machine_types.ts";

/** The state at start-up: the version read at start is the baseline, no restart for it. */
export function initialState(baseline: VersionRef | null): MachineState {
  return {
    phase: "idle",
    applied: baseline,
    latest: baseline,
    cycle: null,
    abandoned: null,
    timerId: 0,
    waitId: 0,
    cancelling: false,
    closing: null,
  };
}

/** The outcome a post-restart command is told, from a restart report. */
export function outcomeOf(report: RestartReport): Outcome {
  if (report.fleetHalted !== undefined) return "halted";
  // A halted rolling restart failed: post learns which program broke and what was left alone.
  if (report.halted || report.error !== undefined) return "failed";
  // A requested name that matched nothing, or a target a stop left alone, was not restarted.
  const missed = report.failed.length + report.unknown.length + (report.untouched?.length ?? 0);
  if (missed === 0) return "success";
  return report.restarted.length > 0 ? "partial" : "failed";
}

/** Which phase handles the failure of each step. */
const PHASE_OF_STEP: Record<Step, MachineState["phase"]> = {
  "pre-restart": "pre-restart",
  "restarting": "restarting",
  "post-restart": "post-restart",
};

export function transition(
  state: MachineState,
  event: MachineEvent,
  context: MachineContext,
): Transition {
  switch (event.type) {
    case "VersionSeen":
      return onVersionSeen(state, event.version, context);
    case "BaselineFound":
      return onBaselineFound(state, event.version) ??
        onVersionSeen(state, event.version, context);
    case "CatchUpNeeded":
      return onCatchUp(state, event.version, event.namespecs, context);
    case "TimerFired":
      return event.timerId === state.timerId ? onTimer(state, context) : { state, commands: [] };
    case "FleetSlotGranted":
    case "FleetHalted":
    case "FleetUncoordinated":
    case "FleetWaitEnded":
      return state.phase === "fleet-wait" && event.waitId === state.waitId
        ? onFleetAnswer(state, event, context)
        : onStaleFleetAnswer(state, event);
    case "PreHookDone":
      return state.phase === "pre-restart"
        ? onPreHookDone(state, event, context)
        : unchanged(state);
    case "RestartDone":
      return state.phase === "restarting"
        ? onRestartDone(state, event.report, context)
        : unchanged(state);
    case "RestartUnavailable":
      return state.phase === "restarting"
        ? onUnavailable(state, event.reason, event.needsPerson)
        : unchanged(state);
    case "SupervisorChecked":
      if (state.phase !== "retrying") return unchanged(state);
      return event.ok
        ? retry(state, context)
        : onUnavailable(state, event.reason ?? "supervisord does not answer");
    case "PostHookDone":
      return state.phase === "post-restart" ? finishCycle(state, context) : unchanged(state);
    case "StepFailed":
      return state.phase === PHASE_OF_STEP[event.step]
        ? onStepFailed(state, event.step, event.reason, context)
        : unchanged(state);
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
  if (state.phase === "fleet-wait" && !state.cancelling && !same(version, state.cycle!.version)) {
    // Nothing was done for the awaited version yet: wait for the newest one instead, once the
    // fleet has answered the cancel (a slot granted meanwhile is released first).
    return {
      state: { ...next, cancelling: true },
      commands: [
        log(
          "info",
          "Version {version} seen while waiting for a fleet slot; waiting for it instead",
          {
            version: version.label,
          },
        ),
        { type: "CancelFleetWait", waitId: state.waitId },
      ],
    };
  }
  if (state.phase !== "idle") {
    // Kept as `latest`; the running cycle ends with one more cycle for it.
    return {
      state: next,
      commands: [log("info", "Version {version} seen while {phase}; it follows this cycle", {
        version: version.label,
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
        "Catch-up: {count} program(s) started before version {version} appeared; restarting them in {delayMs}: {programs}",
        {
          count: namespecs.length,
          version: version.label,
          delayMs,
          programs: namespecs,
        },
      ),
      { type: "StartTimer", timerId, delayMs },
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
          version: state.applied?.label ?? null,
        })],
      };
    }
    // A newer version than the catch-up's one restarts every target: drop the restriction.
    const cycle = catchingUp ? state.cycle : retarget(state.cycle, latest);
    return proceed(state, cycle, context);
  }
  if (state.phase === "retrying" && state.cycle) {
    // With --fleet the slot was given back for the outage: queue again only once supervisord
    // answers, so that a host that cannot restart never takes a slot from one that can.
    if (context.fleet) return { state, commands: [{ type: "CheckSupervisor" }] };
    return retry(state, context);
  }
  return unchanged(state);
}

/** Out of retrying: restart again (with --fleet, queue again first). */
function retry(state: MachineState, context: MachineContext): Transition {
  // Nothing was restarted yet: a release that landed during the outage replaces this one.
  const cycle = state.cycle!;
  const version = state.latest ?? cycle.version;
  return proceed(state, same(version, cycle.version) ? cycle : retarget(cycle, version), context);
}

function onPreHookDone(
  state: MachineState,
  event: { ok: boolean; reason?: string },
  context: MachineContext,
): Transition {
  if (event.ok) return proceed(state, { ...state.cycle!, prepared: true }, context);
  return abort(state, event.reason ?? "pre-restart command failed", context);
}

function onStepFailed(
  state: MachineState,
  step: Step,
  reason: string,
  context: MachineContext,
): Transition {
  const version = state.cycle!.version.label;
  if (step === "pre-restart") return abort(state, `pre-restart step failed: ${reason}`, context);
  if (step === "post-restart") {
    // The outcome was decided before the post command: the cycle is over all the same.
    const next = finishCycle(state, context);
    return {
      state: next.state,
      commands: [
        log("error", "Post-restart step for version {version} failed: {reason}", {
          version,
          reason,
        }),
        ...next.commands,
      ],
    };
  }
  // The restart broke in a way retrying cannot cure; what it did is unknown: not applied, and
  // not retried until a newer version.
  const cycle = state.cycle!;
  const next = closeCycle({ ...state, abandoned: cycle.version }, {
    type: "CycleDone",
    cycle,
    outcome: "failed",
    report: null,
    reason,
  }, context);
  return {
    state: next.state,
    commands: [
      log("error", "Version {version} failed: {reason}", { version, reason }),
      ...next.commands,
    ],
  };
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
  // version — the next release (or --revive) deals with it.
  return closeCycle({ ...state, applied: cycle.version }, {
    type: "CycleDone",
    cycle,
    outcome,
    report,
    ...(reason === undefined ? {} : { reason }),
  }, context);
}

function onUnavailable(state: MachineState, reason: string, needsPerson = false): Transition {
  const { fleet, ...rest } = state.cycle!;
  const cycle: Cycle = { ...rest, attempt: rest.attempt + 1 };
  const delayMs = backoffMs(cycle.attempt - 1);
  const timerId = state.timerId + 1;
  const commands: MachineCommand[] = [];
  // A host that cannot restart holds no slot: others go meanwhile; it queues again to retry.
  if (fleet === "slot") commands.push({ type: "ReleaseFleetSlot", version: cycle.version });
  if (loggedAttempt(cycle.attempt)) {
    commands.push(
      log(
        needsPerson ? "error" : "warning",
        "Cannot restart for version {version}: {reason}; retry {attempt} in {delayMs}",
        {
          version: cycle.version.label,
          reason,
          attempt: cycle.attempt,
          delayMs,
        },
      ),
    );
  }
  commands.push({ type: "StartTimer", timerId, delayMs });
  return { state: { ...state, phase: "retrying", cycle, timerId }, commands };
}
