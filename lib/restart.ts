/**
 * Restarts a set of programs over XML-RPC, all at once: N programs cost about the slowest one.
 *
 * One `system.multicall` of `stopProcess(name, wait=false)` signals every target; one poller
 * (`getAllProcessInfo`) watches them stop; each program is started (`startProcess(name,
 * wait=false)`, batched per poll) the moment it is down, and counts as restarted once it is RUNNING
 * with a new pid — which supervisord grants only after the program's `startsecs`. A program that
 * lands in BACKOFF, EXITED or FATAL instead failed to start. This keeps one connection whatever N
 * is (supervisord's `wait=true` calls would need one connection each, and multicall runs deferred
 * calls one after another), and it sees every state on the way, which rolling restarts need.
 *
 * Outcomes are values, one per program. A restart that has stopped programs always starts them,
 * even when aborted (SIGTERM): it never leaves a program down that it took down.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type SupervisorFault, SupervisorUnavailableError } from "./errors.ts";
import { formatDuration } from "./delay.ts";
import type { ProgramFailure } from "./machine.ts";
import type { ProcessInfo, SupervisorClient } from "./supervisor/client.ts";
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
  /** When startProcess was requested (performance.now()). */
  startRequestedAt: number;
}

/** Poll quickly at first (a restart usually takes tens of ms), then back off to spare supervisord. */
export function pollIntervalMs(elapsedMs: number): number {
  if (elapsedMs < 1_000) return 5;
  if (elapsedMs < 5_000) return 25;
  return 100;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function restartPrograms(
  client: SupervisorClient,
  targets: readonly ProcessInfo[],
  options: RestartOptions = {},
): Promise<BatchResult> {
  const result: BatchResult = { restarted: [], failed: [], pending: [] };
  if (targets.length === 0) return result;
  const sleep = options.sleep ?? defaultSleep;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 600_000;
  const trackers = new Map<string, Tracker>(
    targets.map((info) => [info.namespec, { info, phase: "stopping", startRequestedAt: 0 }]),
  );
  const fail = (tracker: Tracker, reason: string) => {
    tracker.phase = "done";
    result.failed.push({ namespec: tracker.info.namespec, reason });
    log.error("Cannot restart {namespec}: {reason}", { namespec: tracker.info.namespec, reason });
  };

  const stops = await client.multicall(
    targets.map((info) => ({
      methodName: "supervisor.stopProcess",
      params: [info.namespec, false],
    })),
  );
  stops.forEach((outcome, index) => {
    const tracker = trackers.get(targets[index]!.namespec)!;
    // NOT_RUNNING: it stopped on its own meanwhile; starting it is still what the release wants.
    if (!outcome.ok && outcome.fault.faultName !== "NOT_RUNNING") {
      fail(tracker, describeFault(outcome.fault));
    }
  });

  const started = performance.now();
  while ([...trackers.values()].some((t) => t.phase !== "done")) {
    const aborted = options.signal?.aborted ?? false;
    const waitingToStop = [...trackers.values()].some((t) => t.phase === "stopping");
    if (aborted && !waitingToStop) break;
    const now = performance.now();
    for (const tracker of trackers.values()) {
      if (tracker.phase === "stopping" && now - started > stopTimeoutMs) {
        fail(tracker, `did not stop within ${formatDuration(stopTimeoutMs)}`);
      } else if (tracker.phase === "starting" && now - tracker.startRequestedAt > startTimeoutMs) {
        fail(
          tracker,
          `not RUNNING ${formatDuration(startTimeoutMs)} after start (--start-timeout)`,
        );
      }
    }
    if ([...trackers.values()].every((t) => t.phase === "done")) break;
    let infos: ProcessInfo[];
    try {
      infos = await client.getAllProcessInfo();
    } catch (error) {
      if (!(error instanceof SupervisorUnavailableError)) throw error;
      for (const tracker of trackers.values()) {
        if (tracker.phase !== "done") {
          fail(tracker, `supervisord became unreachable: ${error.message}`);
        }
      }
      break;
    }
    const byNamespec = new Map(infos.map((info) => [info.namespec, info]));
    const readyToStart: Tracker[] = [];
    for (const tracker of trackers.values()) {
      if (tracker.phase === "done") continue;
      const now = byNamespec.get(tracker.info.namespec);
      if (!now) {
        fail(tracker, "removed from supervisord during the restart");
      } else if (tracker.phase === "stopping") {
        if (STOPPED_STATES.includes(now.state)) readyToStart.push(tracker);
      } else {
        observeStart(tracker, now, result, fail);
      }
    }
    if (readyToStart.length > 0) await startAll(client, readyToStart, fail);
    if ([...trackers.values()].every((t) => t.phase === "done")) break;
    await sleep(pollIntervalMs(performance.now() - started));
  }
  for (const tracker of trackers.values()) {
    if (tracker.phase === "starting") result.pending.push(tracker.info.namespec);
  }
  return result;
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
      return;
    case "BACKOFF":
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
): Promise<void> {
  const starts = await client.multicall(
    ready.map((t) => ({ methodName: "supervisor.startProcess", params: [t.info.namespec, false] })),
  );
  starts.forEach((outcome, index) => {
    const tracker = ready[index]!;
    if (outcome.ok || outcome.fault.faultName === "ALREADY_STARTED") {
      // ALREADY_STARTED: something started it between our poll and our call; the poll decides.
      tracker.phase = "starting";
      tracker.startRequestedAt = performance.now();
    } else {
      fail(tracker, describeFault(outcome.fault));
    }
  });
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
