/**
 * Readiness checks (`--ready-check COMMAND`, `--ready-url URL`): after a program is RUNNING again,
 * ask it, every `--ready-interval`, whether it serves, until it answers yes or `--ready-timeout`
 * runs out. All programs of a batch are checked at once, each on its own. A command runs as
 * `sh -c COMMAND` the way hooks do (`hooks.ts`: its own process group, killed when the time left
 * runs out, no passwords in its environment); a URL gets a built-in GET (any 2xx is ready,
 * redirects are not followed). What happens next is decided by a pure reducer
 * (`_ready_program.ts`); this module runs the attempts and waits on the injected `Clock`.
 *
 * ```ini
 * command=releasemon --rolling --ready-url 'http://127.0.0.1:8080/health?w={name}' /app/.version -g workers
 * ```
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { type Clock, monotonicClock, sleep } from "./clock.ts";
import { runHook } from "./hooks.ts";
import {
  beginReady,
  type ReadyEvent,
  type ReadyLimits,
  type ReadyStep,
  stepReady,
} from "./_ready_program.ts";

const log = getLogger(["releasemon", "ready"]);

/** Time between SIGTERM and SIGKILL for a check that outlived its time. */
const CHECK_KILL_GRACE_MS = 1_000;
/** Longest detail (last line, error text) kept for the failure reason. */
const MAX_DETAIL_CHARS = 300;

/** How programs are asked whether they are ready; exactly one of `check` and `url` is set. */
export interface ReadinessSettings {
  check: string | null;
  url: string | null;
  intervalMs: number;
  timeoutMs: number;
  /** The hook environment (version, previous version, programs) a check command gets. */
  env: Record<string, string>;
}

/** A program RUNNING again, to be checked. */
export interface ReadyTarget {
  namespec: string;
  name: string;
  group: string;
  /** Its new pid; null when supervisord could not be asked. */
  pid: number | null;
}

/** How one program's checks ended. */
export interface ReadyResult {
  namespec: string;
  ready: boolean;
  /** Why it is not ready: `not ready after 60 s: HTTP 503 Service Unavailable`. */
  reason?: string;
}

/** `--ready-url`'s URL for a program: `{name}` and `{group}` replaced, URL-encoded. */
export function readyUrlFor(template: string, target: { name: string; group: string }): string {
  return template
    .replaceAll("{name}", encodeURIComponent(target.name))
    .replaceAll("{group}", encodeURIComponent(target.group));
}

/** What a check command gets besides the hook environment. */
export function readyCheckEnvironment(target: ReadyTarget): Record<string, string> {
  return {
    RELEASEMON_PROGRAM: target.namespec,
    RELEASEMON_PROGRAM_NAME: target.name,
    RELEASEMON_PROGRAM_GROUP: target.group,
    RELEASEMON_PROGRAM_PID: target.pid === null ? "" : String(target.pid),
  };
}

/** The check, as a dry run and the logs name it. */
export function describeReadiness(settings: ReadinessSettings, target: ReadyTarget): string {
  return settings.url !== null
    ? `GET ${readyUrlFor(settings.url, target)}`
    : `sh -c ${JSON.stringify(settings.check)}`;
}

/** Checks every target at once; one result per target, in order. Never throws. */
export function awaitReady(
  targets: readonly ReadyTarget[],
  settings: ReadinessSettings,
  options: { signal: AbortSignal; clock?: Clock | undefined },
): Promise<ReadyResult[]> {
  const clock = options.clock ?? monotonicClock;
  return Promise.all(targets.map((target) => checkOne(target, settings, clock, options.signal)));
}

async function checkOne(
  target: ReadyTarget,
  settings: ReadinessSettings,
  clock: Clock,
  signal: AbortSignal,
): Promise<ReadyResult> {
  const limits: ReadyLimits = { intervalMs: settings.intervalMs, timeoutMs: settings.timeoutMs };
  const pid = target.pid === null ? "pid unknown" : `pid ${target.pid}`;
  log.debug("Checking readiness of {namespec} ({pid}): {check}", {
    namespec: target.namespec,
    pid,
    check: describeReadiness(settings, target),
  });
  let step: ReadyStep = beginReady(clock.now(), limits);
  while (step.action.type !== "Finish") {
    let event: ReadyEvent;
    if (signal.aborted) {
      event = { type: "Aborted", now: clock.now() };
    } else if (step.action.type === "Attempt") {
      const { ok, detail } = await attempt(
        target,
        settings,
        step.action.timeLimitMs,
        clock,
        signal,
      );
      event = { type: "AttemptEnded", now: clock.now(), ok, detail };
    } else if (step.action.type === "WaitUntil") {
      try {
        await sleep(clock, Math.max(0, step.action.at - clock.now()), signal);
        event = { type: "TimeReached", now: clock.now() };
      } catch {
        event = { type: "Aborted", now: clock.now() };
      }
    } else {
      break; // "None" cannot follow an event this loop sends; stop rather than spin
    }
    step = stepReady(step.state, event, limits);
  }
  const state = step.state;
  if (state.phase === "ready") {
    log.info("Ready {namespec} ({pid}) after {after}", {
      namespec: target.namespec,
      pid,
      after: `${(state.afterMs / 1000).toFixed(1)} s`,
      afterMs: state.afterMs,
    });
    return { namespec: target.namespec, ready: true };
  }
  const reason = state.phase === "not-ready" ? state.reason : "not ready: checking stopped";
  log.error("Not ready: {namespec} ({pid}): {reason}; left running", {
    namespec: target.namespec,
    pid,
    reason,
  });
  return { namespec: target.namespec, ready: false, reason };
}

/** One attempt; `detail` says what it saw (the last line printed, the HTTP status, the error). */
function attempt(
  target: ReadyTarget,
  settings: ReadinessSettings,
  timeLimitMs: number,
  clock: Clock,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string | null }> {
  return settings.url !== null
    ? attemptUrl(readyUrlFor(settings.url, target), timeLimitMs, signal)
    : attemptCommand(target, settings, timeLimitMs, clock, signal);
}

async function attemptCommand(
  target: ReadyTarget,
  settings: ReadinessSettings,
  timeLimitMs: number,
  clock: Clock,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string | null }> {
  let lastLine: string | null = null;
  const label = `ready-check ${target.namespec}`;
  const result = await runHook("ready", settings.check!, {
    ...settings.env,
    ...readyCheckEnvironment(target),
  }, {
    timeoutMs: Math.max(1, timeLimitMs),
    signal,
    clock,
    label,
    killGraceMs: CHECK_KILL_GRACE_MS,
    onLine: (line) => {
      if (line.trim() !== "") lastLine = line.trim();
      log.debug("{label}: {line}", { label, line });
    },
  });
  if (result.ok) return { ok: true, detail: lastLine };
  return { ok: false, detail: clip(lastLine ?? result.reason ?? "failed") };
}

async function attemptUrl(
  url: string,
  timeLimitMs: number,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string | null }> {
  try {
    const response = await fetch(url, {
      redirect: "manual",
      signal: AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, timeLimitMs))]),
    });
    await response.body?.cancel();
    const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    log.debug("GET {url}: {status}", { url, status });
    return { ok: response.status >= 200 && response.status < 300, detail: status };
  } catch (error) {
    const detail = error instanceof DOMException && error.name === "TimeoutError"
      ? "no answer in time"
      : error instanceof Error
      ? error.message
      : String(error);
    log.debug("GET {url}: {detail}", { url, detail });
    return { ok: false, detail: clip(detail) };
  }
}

function clip(text: string): string {
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}
