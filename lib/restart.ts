/**
 * Restarts a set of programs over XML-RPC, all at once: N programs cost about the slowest one.
 *
 * One `system.multicall` of `stopProcess(name, wait=false)` signals every target; one poller
 * (`getAllProcessInfo`) watches them stop; each program is started (`startProcess(name,
 * wait=false)`, batched per poll) the moment it is down, and counts as restarted once it is RUNNING
 * with a new pid — which supervisord grants only after the program's `startsecs`. A program that
 * ends in FATAL or EXITED instead, or is still not RUNNING after `startTimeoutMs` (supervisord
 * retrying it in BACKOFF), failed to start. This keeps one connection whatever N
 * is (supervisord's `wait=true` calls would need one connection each, and multicall runs deferred
 * calls one after another), and it sees every state on the way, which rolling restarts need.
 *
 * Outcomes are values, one per program. A restart that has stopped programs always starts them,
 * even when aborted (SIGTERM): it never leaves a program down that it took down. Nothing it meets
 * on the way throws: supervisord unreachable, an HTTP error from a proxy, refused credentials or a
 * garbled answer are ridden out for a grace period (`_ride_out.ts`), then every program not yet
 * RUNNING is reported failed with the error's text.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { errorText, paceOf, RETRY_PAUSE_MS } from "./_ride_out.ts";
import { SupervisorFault } from "./errors.ts";
import { formatDuration } from "./delay.ts";
import type { ProgramFailure } from "./restart_report.ts";
import {
  type MulticallResult,
  type ProcessInfo,
  processInfoList,
  type SupervisorClient,
} from "./supervisor/client.ts";
import { STOPPED_STATES } from "./supervisor/states.ts";

const log = getLogger(["releasemon", "restart"]);

export interface RestartOptions {
  /** A started program not RUNNING after this long counts as failed. @default 60_000 */
  startTimeoutMs?: number;
  /**
   * Give up on a program still STOPPING after this long. supervisord SIGKILLs it after its
   * stopwaitsecs anyway; this only bounds a wedged supervisord. @default 600_000
   */
  stopTimeoutMs?: number;
  /** Aborting stops waiting for RUNNING; stopped programs are still started first. */
  signal?: AbortSignal;
  /** Sleep between polls; injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Monotonic milliseconds; injected by tests with `sleep`. */
  now?: () => number;
}

export interface BatchResult {
  restarted: string[];
  failed: ProgramFailure[];
  /** Programs whose start was requested but that were not RUNNING yet when we stopped waiting. */
  pending: string[];
}

type Phase = "stopping" | "starting" | "done";

interface Tracker {
  info: ProcessInfo;
  phase: Phase;
  /** A startProcess call was sent whose answer never came (it may have started it). */
  startUncertain?: boolean;
  /** When startProcess was requested (on the restart's monotonic clock). */
  startRequestedAt: number;
  /** False until a stopProcess call for it is known to have reached supervisord. */
  stopSent: boolean;
}

/** Poll quickly at first (a restart usually takes tens of ms), then back off to spare supervisord. */
export function pollIntervalMs(elapsedMs: number): number {
  if (elapsedMs < 1_000) return 5;
  if (elapsedMs < 5_000) return 25;
  return 100;
}

/** Stops and starts `targets`, all at once; one outcome per program. */
export async function restartPrograms(
  client: SupervisorClient,
  targets: readonly ProcessInfo[],
  options: RestartOptions = {},
): Promise<BatchResult> {
  const result: BatchResult = { restarted: [], failed: [], pending: [] };
  if (targets.length === 0) return result;
  const trackers = new Map<string, Tracker>(
    targets.map((info) => [info.namespec, newTracker(info)]),
  );
  const fail = failer(result, "restart");
  if (trackers.size <= PIPELINE_MAX) {
    // Every task settles before the poll loop takes over: none is left running unawaited.
    const now = paceOf(options).now;
    const tasks = [...trackers.values()].map((t) => pipeline(client, t, result, fail, now));
    for (const outcome of await Promise.allSettled(tasks)) {
      if (outcome.status === "rejected") {
        log.debug("Stop-then-start gave way to the poll loop: {error}", {
          error: errorText(outcome.reason),
        });
      }
    }
  } else {
    await stopAll(client, [...trackers.values()], fail);
  }
  await follow(client, trackers, result, fail, options);
  return result;
}

/**
 * Up to this many programs, each gets its own connection and is stopped with wait=true
 * (supervisord answers the moment it is down) and started at once: no poll between stop and
 * start. Beyond it, one multicall and one poller keep the connection count at one.
 */
const PIPELINE_MAX = 16;

/**
 * Stop (waiting) then start one program; what goes wrong on the way (a timeout, supervisord
 * unreachable) is left to the poll loop, which picks up from the program's actual state.
 */
async function pipeline(
  client: SupervisorClient,
  tracker: Tracker,
  result: BatchResult,
  fail: Fail,
  now: () => number,
): Promise<void> {
  try {
    await client.stopProcess(tracker.info.namespec, true, { timeoutMs: PIPELINE_STOP_WAIT_MS });
  } catch (error) {
    if (error instanceof SupervisorFault && error.faultName !== "NOT_RUNNING") {
      return fail(tracker, describeFault(error));
    }
    // Anything else (unreachable, a proxy's 502, a garbled answer): the poll loop takes over.
    if (!(error instanceof SupervisorFault)) return;
  }
  tracker.stopSent = true;
  const after = await startAll(client, [tracker], fail, now);
  const info = after?.find((i) => i.namespec === tracker.info.namespec);
  if (info && tracker.phase === "starting") observeStart(tracker, info, result, fail);
}

/** A slow stop (long stopwaitsecs) goes on in supervisord; the poll loop follows it from here. */
const PIPELINE_STOP_WAIT_MS = 10_000;

/**
 * Starts `targets` (already stopped, or just added and maybe autostarting) and follows them to
 * RUNNING, like the second half of {@link restartPrograms}.
 */
export async function startPrograms(
  client: SupervisorClient,
  targets: readonly ProcessInfo[],
  options: RestartOptions = {},
): Promise<BatchResult> {
  const result: BatchResult = { restarted: [], failed: [], pending: [] };
  if (targets.length === 0) return result;
  const trackers = new Map<string, Tracker>(
    targets.map((info) => [info.namespec, { ...newTracker(info), stopSent: true }]),
  );
  const fail = failer(result, "start");
  await startAll(client, [...trackers.values()], fail, paceOf(options).now);
  await follow(client, trackers, result, fail, options);
  return result;
}

type Fail = (tracker: Tracker, reason: string) => void;

function newTracker(info: ProcessInfo): Tracker {
  return { info, phase: "stopping", startRequestedAt: 0, stopSent: false };
}

/**
 * Sends stopProcess(wait=false) to `trackers`. When supervisord cannot be reached, the stops may
 * or may not have arrived: the poll loop finds out and sends them again where needed.
 */
async function stopAll(client: SupervisorClient, trackers: Tracker[], fail: Fail): Promise<void> {
  const stops = await callEach(client, "supervisor.stopProcess", trackers);
  if (stops === null) {
    log.warning("Cannot reach supervisord to stop {programs}; checking their state", {
      programs: trackers.map((t) => t.info.namespec).join(" "),
    });
    return;
  }
  stops.forEach((outcome, index) => {
    const tracker = trackers[index]!;
    tracker.stopSent = true;
    // NOT_RUNNING: it stopped on its own meanwhile; starting it is still what the release wants.
    if (!outcome.ok && outcome.fault.faultName !== "NOT_RUNNING") {
      fail(tracker, describeFault(outcome.fault));
    }
  });
}

/** `method(namespec, wait=false)` for each tracker in one multicall; null when unreachable. */
async function callEach(
  client: SupervisorClient,
  method: string,
  trackers: readonly Tracker[],
  thenReadStates = false,
): Promise<MulticallResult[] | null> {
  const calls = trackers.map((t) => ({ methodName: method, params: [t.info.namespec, false] }));
  if (thenReadStates) calls.push({ methodName: "supervisor.getAllProcessInfo", params: [] });
  try {
    return await client.multicall(
      calls,
      // supervisord forks each program inside a start call, one after another: on a busy host
      // that is tens of ms per program, so a large batch needs more than the usual timeout.
      { timeoutMs: MULTICALL_BASE_TIMEOUT_MS + MULTICALL_PER_PROGRAM_MS * trackers.length },
    );
  } catch (error) {
    // Whatever went wrong, the poll loop finds out from the programs' states.
    log.debug("{method} for {count} program(s) failed: {error}", {
      method,
      count: trackers.length,
      error: errorText(error),
    });
    return null;
  }
}

const MULTICALL_BASE_TIMEOUT_MS = 10_000;
const MULTICALL_PER_PROGRAM_MS = 250;

function failer(result: BatchResult, action: string): Fail {
  return (tracker, reason) => {
    tracker.phase = "done";
    result.failed.push({ namespec: tracker.info.namespec, reason });
    log.error(`Cannot ${action} {namespec}: {reason}`, { namespec: tracker.info.namespec, reason });
  };
}

/** The poll loop: starts each tracker once it is down, until every one is RUNNING or failed. */
async function follow(
  client: SupervisorClient,
  trackers: Map<string, Tracker>,
  result: BatchResult,
  fail: Fail,
  options: RestartOptions,
): Promise<void> {
  const pace = paceOf(options);
  const sleep = pace.sleep;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 600_000;
  const started = pace.now();
  let unreachableSince: number | null = null;
  const open = () => [...trackers.values()].filter((t) => t.phase !== "done");
  while (open().length > 0) {
    const aborted = options.signal?.aborted ?? false;
    if (aborted && !open().some((t) => t.phase === "stopping")) break;
    const now = pace.now();
    for (const tracker of open()) {
      if (tracker.phase === "stopping" && now - started > stopTimeoutMs) {
        fail(tracker, `did not stop within ${formatDuration(stopTimeoutMs)}`);
      } else if (tracker.phase === "starting" && now - tracker.startRequestedAt > startTimeoutMs) {
        fail(
          tracker,
          `not RUNNING ${formatDuration(startTimeoutMs)} after start (--start-timeout)`,
        );
      }
    }
    if (open().length === 0) break;
    let infos: ProcessInfo[];
    try {
      infos = await client.getAllProcessInfo();
      unreachableSince = null;
    } catch (error) {
      // Programs may be down because of us: ride out a short outage (supervisord busy or
      // restarting, a proxy answering 502, a password being changed) and carry on from whatever
      // state they are in. Every kind of error: none may leave a stopped program behind.
      unreachableSince ??= pace.now();
      if (pace.now() - unreachableSince < pace.graceMs) {
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      for (const tracker of open()) {
        const down = tracker.phase === "stopping" && tracker.stopSent
          ? `; it may be down: check "supervisorctl status ${tracker.info.namespec}"`
          : "";
        fail(tracker, `lost contact with supervisord mid-restart: ${errorText(error)}${down}`);
      }
      break;
    }
    const byNamespec = new Map(infos.map((info) => [info.namespec, info]));
    const readyToStart: Tracker[] = [];
    const toStop: Tracker[] = [];
    for (const tracker of open()) {
      const current = byNamespec.get(tracker.info.namespec);
      if (!current) {
        fail(tracker, "removed from supervisord during the restart");
      } else if (tracker.phase === "stopping") {
        if (STOPPED_STATES.includes(current.state)) readyToStart.push(tracker);
        else if (tracker.startUncertain && current.state !== "STOPPING") {
          // Our start got through although its answer did not: follow it to RUNNING.
          tracker.phase = "starting";
          tracker.startRequestedAt = pace.now();
          observeStart(tracker, current, result, fail);
        } else if (!tracker.stopSent && current.state !== "STOPPING") toStop.push(tracker);
      } else {
        observeStart(tracker, current, result, fail);
      }
    }
    if (toStop.length > 0) await stopAll(client, toStop, fail);
    if (readyToStart.length > 0) {
      const after = await startAll(client, readyToStart, fail, pace.now);
      // Programs with startsecs=0 are RUNNING by the end of the start call: no extra poll.
      for (const info of after ?? []) {
        const tracker = trackers.get(info.namespec);
        if (tracker?.phase === "starting") observeStart(tracker, info, result, fail);
      }
    }
    if (open().length === 0) break;
    await sleep(pollIntervalMs(pace.now() - started));
  }
  for (const tracker of trackers.values()) {
    if (tracker.phase === "starting") result.pending.push(tracker.info.namespec);
  }
}

function observeStart(
  tracker: Tracker,
  now: ProcessInfo,
  result: BatchResult,
  fail: (tracker: Tracker, reason: string) => void,
): void {
  switch (now.state) {
    case "RUNNING":
      tracker.phase = "done";
      result.restarted.push(tracker.info.namespec);
      log.info("Restarted {namespec} (pid {oldPid} → {pid})", {
        namespec: tracker.info.namespec,
        oldPid: tracker.info.pid,
        pid: now.pid,
      });
      return;
    case "STARTING":
    case "BACKOFF":
      // BACKOFF: supervisord retries per the program's startretries (a port still held by the
      // old process often frees a moment later); FATAL or --start-timeout decides failure.
      return;
    case "EXITED":
    case "FATAL": {
      const detail = now.spawnerr ? `: ${now.spawnerr}` : "";
      fail(tracker, `${now.state} after start${detail}; see that program's stderr log`);
      return;
    }
    default:
      fail(tracker, `${now.state} after start (someone else stopped it?)`);
  }
}

async function startAll(
  client: SupervisorClient,
  ready: Tracker[],
  fail: (tracker: Tracker, reason: string) => void,
  now: () => number,
): Promise<ProcessInfo[] | null> {
  // One more call at the end of the same multicall reads every state right after the starts
  // (supervisord runs them in order), saving a poll round trip.
  const answers = await callEach(client, "supervisor.startProcess", ready, true);
  // Unreachable: they stay "stopping" and STOPPED, so the next poll tries again (and gets
  // ALREADY_STARTED where the call did get through).
  if (answers === null) {
    for (const tracker of ready) tracker.startUncertain = true;
    return null;
  }
  const starts = answers.slice(0, ready.length);
  const last = answers[ready.length];
  starts.forEach((outcome, index) => {
    const tracker = ready[index]!;
    if (outcome.ok || outcome.fault.faultName === "ALREADY_STARTED") {
      // ALREADY_STARTED: something started it between our poll and our call; the poll decides.
      tracker.phase = "starting";
      tracker.startRequestedAt = now();
    } else {
      fail(tracker, describeFault(outcome.fault));
    }
  });
  return last?.ok ? processInfoList(last.value) : null;
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
