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
 * What each program does next is decided by a pure reducer (`_restart_program.ts`); this module
 * only makes the calls, feeds the answers back, and waits on the injected `Clock`.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { errorText, paceOf, RETRY_PAUSE_MS } from "./_ride_out.ts";
import { SupervisorFault } from "./errors.ts";
import { type Clock, sleep } from "./clock.ts";
import type { ProgramFailure } from "./restart_report.ts";
import {
  type MulticallResult,
  type ProcessInfo,
  processInfoList,
  type SupervisorClient,
} from "./supervisor/client.ts";
import {
  isOpen,
  type ProgramLimits,
  type ProgramObservation,
  type ProgramState,
  stepProgram,
  stoppingProgram,
} from "./_restart_program.ts";

export { describeFault } from "./_restart_program.ts";

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
  /** Paces the polls and measures the timeouts and outages. @default monotonicClock */
  clock?: Clock;
}

export interface BatchResult {
  restarted: string[];
  failed: ProgramFailure[];
  /** Programs whose start was requested but that were not RUNNING yet when we stopped waiting. */
  pending: string[];
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
  const batch = new Batch(targets, "restart", options);
  const namespecs = batch.open();
  if (namespecs.length === 0) return batch.result;
  if (namespecs.length <= PIPELINE_MAX) {
    // Every task settles before the poll loop takes over: none is left running unawaited.
    const tasks = namespecs.map((namespec) => pipeline(client, batch, namespec));
    for (const outcome of await Promise.allSettled(tasks)) {
      if (outcome.status === "rejected") {
        log.debug("Stop-then-start gave way to the poll loop: {error}", {
          error: errorText(outcome.reason),
        });
      }
    }
  } else {
    await stopAll(client, batch, namespecs);
  }
  await follow(client, batch, options.signal);
  return batch.result;
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
async function pipeline(client: SupervisorClient, batch: Batch, namespec: string): Promise<void> {
  let stop: ProgramObservation;
  try {
    await client.stopProcess(namespec, true, { timeoutMs: PIPELINE_STOP_WAIT_MS });
    stop = { type: "StopAnswered", waited: true };
  } catch (error) {
    // Anything but a fault (unreachable, a proxy's 502, a garbled answer): the poll loop takes over.
    stop = error instanceof SupervisorFault
      ? { type: "StopFaulted", fault: error, waited: true }
      : { type: "StopUnanswered" };
  }
  if (batch.observe(namespec, stop) !== "start") return;
  const after = await startAll(client, batch, [namespec]);
  readBack(batch, (after ?? []).filter((info) => info.namespec === namespec));
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
  const batch = new Batch(targets, "start", options);
  const namespecs = batch.open();
  if (namespecs.length === 0) return batch.result;
  await startAll(client, batch, namespecs);
  await follow(client, batch, options.signal);
  return batch.result;
}

/**
 * The programs of one restart, each in its state (`_restart_program.ts`): observations go in,
 * the outcomes they settle are logged and recorded, and the call each asks for comes out.
 */
class Batch {
  readonly result: BatchResult = { restarted: [], failed: [], pending: [] };
  readonly clock: Clock;
  readonly graceMs: number;
  readonly #states: Map<string, ProgramState>;
  readonly #action: "restart" | "start";
  readonly #limits: ProgramLimits;

  constructor(
    targets: readonly ProcessInfo[],
    action: "restart" | "start",
    options: RestartOptions,
  ) {
    ({ clock: this.clock, graceMs: this.graceMs } = paceOf(options.clock));
    // Started only: they are down already, as if our stop had arrived.
    const stopSent = action === "start";
    this.#states = new Map(targets.map((info) => [info.namespec, stoppingProgram(info, stopSent)]));
    this.#action = action;
    this.#limits = {
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      stopTimeoutMs: options.stopTimeoutMs ?? 600_000,
    };
  }

  /** Namespecs still waited for, in the order of the targets. */
  open(phase?: "stopping" | "starting"): string[] {
    return [...this.#states].filter(([, s]) => isOpen(s) && (phase ?? s.phase) === s.phase)
      .map(([namespec]) => namespec);
  }

  /** Feeds `observation` to every program still open. */
  observeAll(observation: ProgramObservation): void {
    for (const namespec of this.open()) this.observe(namespec, observation);
  }

  /** Feeds `observation` to one program; returns the call it asks for, if any. */
  observe(namespec: string, observation: ProgramObservation): "stop" | "start" | null {
    const before = this.#states.get(namespec);
    if (before === undefined) return null;
    const step = stepProgram(before, observation, this.clock.now(), this.#limits);
    this.#states.set(namespec, step.state);
    let call: "stop" | "start" | null = null;
    for (const action of step.actions) {
      if (action.type === "SendStop") call = "stop";
      else if (action.type === "SendStart") call = "start";
      else if (action.type === "ReportPending") this.result.pending.push(namespec);
      else if (action.type === "ReportRestarted") {
        this.result.restarted.push(namespec);
        const oldPid = before.info.pid;
        // A program that was not running has no old pid: "started", never "pid 0 → 1742".
        const text = oldPid > 0
          ? "Restarted {namespec} (pid {oldPid} → {pid})"
          : "Started {namespec} (pid {pid})";
        log.info(text, { namespec, ...(oldPid > 0 ? { oldPid } : {}), pid: action.pid });
      } else {
        const reason = action.reason;
        this.result.failed.push({ namespec, reason });
        log.error(`Cannot ${this.#action} {namespec}: {reason}`, { namespec, reason });
      }
    }
    return call;
  }
}

/**
 * Sends stopProcess(wait=false) to `namespecs`. When supervisord cannot be reached, the stops may
 * or may not have arrived: the poll loop finds out and sends them again where needed.
 */
async function stopAll(client: SupervisorClient, batch: Batch, namespecs: string[]) {
  const stops = await callEach(client, "supervisor.stopProcess", namespecs);
  if (stops === null) {
    log.warning("Cannot reach supervisord to stop {programs}; checking their state", {
      programs: namespecs,
    });
    for (const namespec of namespecs) batch.observe(namespec, { type: "StopUnanswered" });
    return;
  }
  stops.forEach((outcome, index) => {
    batch.observe(
      namespecs[index]!,
      outcome.ok
        ? { type: "StopAnswered", waited: false }
        : { type: "StopFaulted", fault: outcome.fault, waited: false },
    );
  });
}

/**
 * Sends startProcess(wait=false) to `namespecs`, and reads every state at the end of the same
 * multicall (supervisord runs the calls in order), saving a poll round trip; null when that
 * read did not answer.
 */
async function startAll(
  client: SupervisorClient,
  batch: Batch,
  namespecs: string[],
): Promise<ProcessInfo[] | null> {
  const answers = await callEach(client, "supervisor.startProcess", namespecs, true);
  if (answers === null) {
    for (const namespec of namespecs) batch.observe(namespec, { type: "StartUnanswered" });
    return null;
  }
  answers.slice(0, namespecs.length).forEach((outcome, index) => {
    batch.observe(
      namespecs[index]!,
      outcome.ok ? { type: "StartAnswered" } : { type: "StartFaulted", fault: outcome.fault },
    );
  });
  const last = answers[namespecs.length];
  return last?.ok ? processInfoList(last.value) : null;
}

/** Programs with startsecs=0 are RUNNING by the end of the start call: no extra poll. */
function readBack(batch: Batch, infos: readonly ProcessInfo[] | null): void {
  const starting = new Set(batch.open("starting"));
  for (const info of infos ?? []) {
    if (starting.has(info.namespec)) batch.observe(info.namespec, { type: "Polled", info });
  }
}

/** `method(namespec, wait=false)` for each program in one multicall; null when unreachable. */
async function callEach(
  client: SupervisorClient,
  method: string,
  namespecs: readonly string[],
  thenReadStates = false,
): Promise<MulticallResult[] | null> {
  const calls = namespecs.map((namespec) => ({ methodName: method, params: [namespec, false] }));
  if (thenReadStates) calls.push({ methodName: "supervisor.getAllProcessInfo", params: [] });
  try {
    return await client.multicall(
      calls,
      // supervisord forks each program inside a start call, one after another: on a busy host
      // that is tens of ms per program, so a large batch needs more than the usual timeout.
      { timeoutMs: MULTICALL_BASE_TIMEOUT_MS + MULTICALL_PER_PROGRAM_MS * namespecs.length },
    );
  } catch (error) {
    // Whatever went wrong, the poll loop finds out from the programs' states.
    log.debug("{method} for {count} program(s) failed: {error}", {
      method,
      count: namespecs.length,
      error: errorText(error),
    });
    return null;
  }
}

const MULTICALL_BASE_TIMEOUT_MS = 10_000;
const MULTICALL_PER_PROGRAM_MS = 250;

/** The poll loop: starts each program once it is down, until every one is RUNNING or failed. */
async function follow(client: SupervisorClient, batch: Batch, signal?: AbortSignal) {
  const clock = batch.clock;
  const started = clock.now();
  let unreachableSince: number | null = null;
  while (batch.open().length > 0) {
    if (signal?.aborted && batch.open("stopping").length === 0) {
      // Nothing left down because of us: stop waiting for the rest to be RUNNING.
      batch.observeAll({ type: "Aborted" });
      break;
    }
    batch.observeAll({ type: "TimeChecked", stopWaitedMs: clock.now() - started });
    if (batch.open().length === 0) break;
    let infos: ProcessInfo[];
    try {
      infos = await client.getAllProcessInfo();
      unreachableSince = null;
    } catch (error) {
      // Programs may be down because of us: ride out a short outage (supervisord busy or
      // restarting, a proxy answering 502, a password being changed) and carry on from whatever
      // state they are in. Every kind of error: none may leave a stopped program behind.
      unreachableSince ??= clock.now();
      if (clock.now() - unreachableSince < batch.graceMs) {
        await sleep(clock, RETRY_PAUSE_MS);
        continue;
      }
      batch.observeAll({ type: "ContactLost", error: errorText(error) });
      break;
    }
    const byNamespec = new Map(infos.map((info) => [info.namespec, info]));
    const toStop: string[] = [];
    const toStart: string[] = [];
    for (const namespec of batch.open()) {
      const call = batch.observe(namespec, {
        type: "Polled",
        info: byNamespec.get(namespec) ?? null,
      });
      if (call === "stop") toStop.push(namespec);
      else if (call === "start") toStart.push(namespec);
    }
    if (toStop.length > 0) await stopAll(client, batch, toStop);
    if (toStart.length > 0) readBack(batch, await startAll(client, batch, toStart));
    if (batch.open().length === 0) break;
    await sleep(clock, pollIntervalMs(clock.now() - started));
  }
}
