/**
 * One program's restart, pure: `stepProgram(state, observation, now, limits)` returns the next
 * state and the actions to take, as data. `restart.ts` holds the states of a batch, sends the
 * calls the actions ask for, and feeds supervisord's answers back as observations.
 *
 *   stopping ──(down: SendStart, answered)──→ starting ──(RUNNING)──→ restarted
 *       └────────────── failed (a fault, FATAL, EXITED, a timeout, removed, contact lost) ─┘
 *   starting ──(aborted)──→ pending
 *
 * A program is "stopping" until a start for it is answered: the stop may not have been sent yet,
 * may be on its way, or the program may be down and its start not yet sent or its answer lost.
 * Terminal states (restarted, failed, pending) ignore every observation.
 *
 * @module
 */
import { formatDuration } from "./delay.ts";
import type { SupervisorFault } from "./errors.ts";
import type { ProcessInfo } from "./supervisor/client.ts";
import { STOPPED_STATES } from "./supervisor/states.ts";

/** Before its start is answered. */
export interface StoppingProgram {
  phase: "stopping";
  info: ProcessInfo;
  /** A stopProcess call for it is known to have reached supervisord. */
  stopSent: boolean;
  /** A startProcess call was sent whose answer never came (it may have started it). */
  startUncertain: boolean;
}

/** Its start was answered; waiting for RUNNING. */
export interface StartingProgram {
  phase: "starting";
  info: ProcessInfo;
  /** When startProcess was answered (on the restart's clock). */
  startRequestedAt: number;
}

/** RUNNING again, with `pid`. */
export interface RestartedProgram {
  phase: "restarted";
  info: ProcessInfo;
  pid: number;
}

export interface FailedProgram {
  phase: "failed";
  info: ProcessInfo;
  reason: string;
}

/** Started, but no longer waited for (aborted) before it was RUNNING. */
export interface PendingProgram {
  phase: "pending";
  info: ProcessInfo;
}

export type ProgramState =
  | StoppingProgram
  | StartingProgram
  | RestartedProgram
  | FailedProgram
  | PendingProgram;

/** What supervisord answered, or what the driver saw; past-tense facts. */
export type ProgramObservation =
  /** stopProcess answered; `waited`: called with wait=true, so it is down now. */
  | { type: "StopAnswered"; waited: boolean }
  | { type: "StopFaulted"; fault: SupervisorFault; waited: boolean }
  /** stopProcess got no answer (unreachable, timed out, garbled): it may or may not have arrived. */
  | { type: "StopUnanswered" }
  | { type: "StartAnswered" }
  | { type: "StartFaulted"; fault: SupervisorFault }
  /** startProcess got no answer: it may have started the program. */
  | { type: "StartUnanswered" }
  /** Its state in a getAllProcessInfo answer; null when supervisord no longer has it. */
  | { type: "Polled"; info: ProcessInfo | null }
  /** A deadline check; `stopWaitedMs`: how long the batch's stops have been followed. */
  | { type: "TimeChecked"; stopWaitedMs: number }
  /** supervisord stayed unreachable past the grace period. */
  | { type: "ContactLost"; error: string }
  /** The restart stopped waiting (SIGTERM) and nothing of the batch is still stopping. */
  | { type: "Aborted" };

/** What the driver does next; imperative. */
export type ProgramAction =
  | { type: "SendStop" }
  | { type: "SendStart" }
  | { type: "ReportRestarted"; pid: number }
  | { type: "ReportFailed"; reason: string }
  | { type: "ReportPending" };

export interface ProgramStep {
  state: ProgramState;
  actions: ProgramAction[];
}

export interface ProgramLimits {
  /** A started program not RUNNING after this long failed. */
  startTimeoutMs: number;
  /** A program still not down after this long failed. */
  stopTimeoutMs: number;
}

/** A program about to be stopped; `stopSent` when it is down already (only to be started). */
export function stoppingProgram(info: ProcessInfo, stopSent = false): StoppingProgram {
  return { phase: "stopping", info, stopSent, startUncertain: false };
}

/** Still waiting for supervisord: not restarted, failed or given up. */
export function isOpen(state: ProgramState): state is StoppingProgram | StartingProgram {
  return state.phase === "stopping" || state.phase === "starting";
}

export function stepProgram(
  state: ProgramState,
  observation: ProgramObservation,
  now: number,
  limits: ProgramLimits,
): ProgramStep {
  switch (state.phase) {
    case "stopping":
      return whileStopping(state, observation, now, limits);
    case "starting":
      return whileStarting(state, observation, now, limits);
    default:
      return same(state);
  }
}

function whileStopping(
  state: StoppingProgram,
  observation: ProgramObservation,
  now: number,
  limits: ProgramLimits,
): ProgramStep {
  switch (observation.type) {
    case "StopAnswered":
      return stopped(state, observation.waited);
    case "StopFaulted":
      // NOT_RUNNING: it stopped on its own meanwhile; starting it is still what the release wants.
      if (observation.fault.faultName === "NOT_RUNNING") return stopped(state, observation.waited);
      return fail(state, describeFault(observation.fault));
    case "StartAnswered":
      return same({ phase: "starting", info: state.info, startRequestedAt: now });
    case "StartFaulted":
      // ALREADY_STARTED: something started it between our poll and our call; the poll decides.
      if (observation.fault.faultName === "ALREADY_STARTED") {
        return same({ phase: "starting", info: state.info, startRequestedAt: now });
      }
      return fail(state, describeFault(observation.fault));
    case "StartUnanswered":
      // It stays STOPPED or not: the next poll starts it again (ALREADY_STARTED if it got through).
      return same({ ...state, startUncertain: true });
    case "Polled":
      return stoppingPolled(state, observation.info, now);
    case "TimeChecked":
      if (observation.stopWaitedMs <= limits.stopTimeoutMs) return same(state);
      return fail(state, `did not stop within ${formatDuration(limits.stopTimeoutMs)}`);
    case "ContactLost": {
      const down = state.stopSent
        ? `; it may be down: check "supervisorctl status ${state.info.namespec}"`
        : "";
      return fail(state, `lost contact with supervisord mid-restart: ${observation.error}${down}`);
    }
    default:
      // StopUnanswered: the poll finds out whether it arrived. Aborted: what was stopped is
      // always started again, so a stopping program is followed on.
      return same(state);
  }
}

function stopped(state: StoppingProgram, waited: boolean): ProgramStep {
  const next = { ...state, stopSent: true };
  return waited ? { state: next, actions: [{ type: "SendStart" }] } : same(next);
}

function stoppingPolled(state: StoppingProgram, now: ProcessInfo | null, at: number): ProgramStep {
  if (now === null) return fail(state, "removed from supervisord during the restart");
  if (STOPPED_STATES.includes(now.state)) return { state, actions: [{ type: "SendStart" }] };
  if (now.state === "STOPPING") return same(state);
  if (state.startUncertain) {
    // Our start got through although its answer did not: follow it to RUNNING.
    return startingPolled({ phase: "starting", info: state.info, startRequestedAt: at }, now);
  }
  // Still up and no stop known to have arrived: send it (again).
  if (!state.stopSent) return { state, actions: [{ type: "SendStop" }] };
  return same(state);
}

function whileStarting(
  state: StartingProgram,
  observation: ProgramObservation,
  now: number,
  limits: ProgramLimits,
): ProgramStep {
  switch (observation.type) {
    case "Polled":
      if (observation.info === null) {
        return fail(state, "removed from supervisord during the restart");
      }
      return startingPolled(state, observation.info);
    case "TimeChecked":
      if (now - state.startRequestedAt <= limits.startTimeoutMs) return same(state);
      return fail(
        state,
        `not RUNNING ${formatDuration(limits.startTimeoutMs)} after start (--start-timeout)`,
      );
    case "ContactLost":
      return fail(state, `lost contact with supervisord mid-restart: ${observation.error}`);
    case "Aborted":
      return {
        state: { phase: "pending", info: state.info },
        actions: [{ type: "ReportPending" }],
      };
    default:
      return same(state);
  }
}

function startingPolled(state: StartingProgram, now: ProcessInfo): ProgramStep {
  switch (now.state) {
    case "RUNNING":
      return {
        state: { phase: "restarted", info: state.info, pid: now.pid },
        actions: [{ type: "ReportRestarted", pid: now.pid }],
      };
    case "STARTING":
    case "BACKOFF":
      // BACKOFF: supervisord retries per the program's startretries (a port still held by the
      // old process often frees a moment later); FATAL or --start-timeout decides failure.
      return same(state);
    case "EXITED":
    case "FATAL": {
      const detail = now.spawnerr ? `: ${now.spawnerr}` : "";
      return fail(state, `${now.state} after start${detail}; see that program's stderr log`);
    }
    default:
      return fail(state, `${now.state} after start (someone else stopped it?)`);
  }
}

function same(state: ProgramState): ProgramStep {
  return { state, actions: [] };
}

function fail(state: StoppingProgram | StartingProgram, reason: string): ProgramStep {
  return {
    state: { phase: "failed", info: state.info, reason },
    actions: [{ type: "ReportFailed", reason }],
  };
}

/** Operator text for a fault: the name, supervisord's detail and where to look. */
export function describeFault(fault: SupervisorFault): string {
  const hint = fault.faultName === "SPAWN_ERROR" || fault.faultName === "ABNORMAL_TERMINATION"
    ? "; see that program's stderr log"
    : fault.faultName === "BAD_NAME"
    ? "; it no longer exists in supervisord"
    : "";
  return `${fault.faultString || fault.faultName}${hint}`;
}
