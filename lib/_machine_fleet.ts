/**
 * The restart state machine's fleet-wait phase (lib/machine.ts): the fleet's answers to a wait
 * for a slot. Pure.
 *
 * @module
 */
import { abort, closeCycle, log, proceed, retarget, same, wanted } from "./_machine_cycle.ts";
import type {
  Cycle,
  MachineCommand,
  MachineContext,
  MachineEvent,
  MachineState,
  Transition,
} from "./_machine_types.ts";

export type FleetAnswer = Extract<
  MachineEvent,
  { type: "FleetSlotGranted" | "FleetHalted" | "FleetUncoordinated" | "FleetWaitEnded" }
>;

export function onFleetAnswer(
  state: MachineState,
  event: FleetAnswer,
  context: MachineContext,
): Transition {
  const cycle = state.cycle!;
  if (state.cancelling || (event.type === "FleetWaitEnded" && event.reason === undefined)) {
    return waitAgain(state, event, context);
  }
  switch (event.type) {
    case "FleetSlotGranted":
      return proceed(state, { ...cycle, fleet: "slot" }, context);
    case "FleetUncoordinated":
      return proceed(state, { ...cycle, fleet: "uncoordinated" }, context);
    case "FleetHalted": {
      // Not applied here; like an aborted version, only a newer one (or a catch-up) retries it.
      const halted: Cycle = { ...cycle, fleet: "halted" };
      const report = {
        restarted: [],
        failed: [],
        skipped: [],
        unknown: [],
        fleetHalted: event.reason,
      };
      const next = closeCycle({ ...state, abandoned: cycle.version, cycle: halted }, {
        type: "CycleDone",
        cycle: halted,
        outcome: "halted",
        report,
        reason: event.reason,
      }, context);
      const line = log("error", "Version {version} halted: {reason}; nothing restarted here", {
        version: cycle.version.label,
        reason: event.reason,
      });
      return { state: next.state, commands: [line, ...next.commands] };
    }
    case "FleetWaitEnded": {
      // The wait itself broke (not the engine being down: that is retried inside the wait).
      const reason = `waiting for a fleet slot failed: ${event.reason}`;
      return abort(state, reason, context);
    }
  }
}

/**
 * The cancelled wait answered: release a slot granted meanwhile, then wait for the newest
 * version (no second delay: it was served) or, when nothing is left to apply, go idle.
 */
function waitAgain(state: MachineState, event: FleetAnswer, context: MachineContext): Transition {
  const commands: MachineCommand[] = event.type === "FleetSlotGranted"
    ? [{ type: "ReleaseFleetSlot", version: event.version }]
    : [];
  const cycle = state.cycle!;
  const catchingUp = cycle.only !== undefined && same(state.latest, cycle.version);
  const version = catchingUp ? cycle.version : wanted(state);
  if (version === null) {
    return {
      state: { ...state, phase: "idle", cycle: null, cancelling: false },
      commands: [
        ...commands,
        log("info", "Version is back to {version}; nothing to restart", {
          version: state.applied?.label ?? null,
        }),
      ],
    };
  }
  const next = proceed(
    state,
    same(version, cycle.version) ? cycle : retarget(cycle, version),
    context,
  );
  return { state: next.state, commands: [...commands, ...next.commands] };
}

/** An answer to a wait the machine no longer waits for: a slot it brings is given back. */
export function onStaleFleetAnswer(state: MachineState, event: FleetAnswer): Transition {
  if (event.type !== "FleetSlotGranted") return { state, commands: [] };
  const cycle = state.cycle;
  if (cycle?.fleet === "slot" && same(cycle.version, event.version)) return { state, commands: [] };
  return {
    state,
    commands: [
      log("warning", "Releasing a fleet slot granted for version {version}: no longer wanted", {
        version: event.version.label,
      }),
      { type: "ReleaseFleetSlot", version: event.version },
    ],
  };
}
