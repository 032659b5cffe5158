/**
 * Pre- and post-restart commands: `sh -c COMMAND` in a process group of its own, the version in
 * environment variables only (never inside the command string), output streamed to the log line by
 * line, and a timeout that takes the whole group down: SIGTERM, then SIGKILL after a grace period.
 *
 * ```ini
 * command=releasemon -pre "/app/bin/migrate" -post 'curl -fsS "$HOOK_URL?v=$RELEASEMON_VERSION"' /app/.version web
 * ```
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { checkPositive } from "./check.ts";
import { type Clock, monotonicClock, type TimerHandle } from "./clock.ts";
import { formatDuration } from "./delay.ts";
import type { Outcome } from "./restart_report.ts";

/** What a hook is told about the version it runs for. */
export interface HookContext {
  version: { label: string; hash: string };
  previous: { label: string; hash: string } | null;
  versionFile: string;
  /** Namespecs being restarted. */
  programs: string[];
}

/** How the restart went, for the post-restart hook. */
export interface PostHookOutcome {
  outcome: Outcome;
  restarted: string[];
  failed: { namespec: string; reason: string }[];
  /** Targets a halted rollout left on the previous release. */
  untouched?: string[];
  /** Programs RUNNING but not ready in time (`--ready-check`/`--ready-url`); also in `failed`. */
  notReady?: string[];
  /** `--update-config`: programs re-created with a new definition, added, removed. */
  config?: { recreated: string[]; added: string[]; removed: string[] };
  reason?: string;
}

/** How a hook run ended. Never thrown: a hook that cannot even start is `ok: false`. */
export interface HookResult {
  /** Exited with status 0, in time, not cancelled. */
  ok: boolean;
  /** Exit status, or null when killed by a signal or never started. */
  exitCode: number | null;
  /** The signal that killed the shell, e.g. "SIGTERM". */
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** Why it is not ok, for operators: `exited with status 3`, `timed out after 60 seconds`. */
  reason?: string;
}

/**
 * Variables of releasemon's own environment that a hook never sees: the supervisord and fleet
 * passwords. `SUPERVISOR_USERNAME` and the URLs are not secret and stay.
 */
export const HOOK_HIDDEN_VARIABLES = ["SUPERVISOR_PASSWORD", "RELEASEMON_FLEET_PASSWORD"] as const;

/** Time between SIGTERM and SIGKILL when a hook is stopped. */
export const HOOK_KILL_GRACE_MS = 5_000;
/** Longest line of hook output that is logged; the rest of the line is cut. */
export const MAX_HOOK_LINE_BYTES = 4096;

const NEWLINE = 0x0a;
const logger = getLogger(["releasemon", "hook"]);

/**
 * The `RELEASEMON_*` variables for a hook. Values never contain NUL (not allowed in an
 * environment); lists are space-separated, failure reasons one `namespec: reason` per line.
 *
 * @throws {TypeError} for a post hook without an outcome
 */
export function hookEnvironment(
  kind: "pre" | "post" | "ready",
  context: HookContext,
  outcome?: PostHookOutcome,
): Record<string, string> {
  const env: Record<string, string> = {
    RELEASEMON_HOOK: kind,
    RELEASEMON_VERSION: context.version.label,
    RELEASEMON_VERSION_HASH: context.version.hash,
    RELEASEMON_PREVIOUS_VERSION: context.previous?.label ?? "",
    RELEASEMON_PREVIOUS_VERSION_HASH: context.previous?.hash ?? "",
    RELEASEMON_VERSION_FILE: context.versionFile,
    RELEASEMON_PROGRAMS: context.programs.join(" "),
  };
  if (kind === "post") {
    if (!outcome) {
      throw new TypeError("Cannot build the post-restart environment: no outcome given");
    }
    env.RELEASEMON_OUTCOME = outcome.outcome;
    env.RELEASEMON_RESTARTED = outcome.restarted.join(" ");
    env.RELEASEMON_FAILED = outcome.failed.map((failure) => failure.namespec).join(" ");
    env.RELEASEMON_FAILED_REASONS = outcome.failed
      .map(({ namespec, reason }) => `${namespec}: ${reason.replace(/[\r\n]+/g, " ")}`)
      .join("\n");
    env.RELEASEMON_UNTOUCHED = (outcome.untouched ?? []).join(" ");
    env.RELEASEMON_NOT_READY = (outcome.notReady ?? []).join(" ");
    env.RELEASEMON_RECREATED = (outcome.config?.recreated ?? []).join(" ");
    env.RELEASEMON_ADDED = (outcome.config?.added ?? []).join(" ");
    env.RELEASEMON_REMOVED = (outcome.config?.removed ?? []).join(" ");
    env.RELEASEMON_REASON = outcome.reason ?? "";
  }
  for (const [key, value] of Object.entries(env)) env[key] = value.replaceAll("\0", "\uFFFD");
  return env;
}

/**
 * Runs `sh -c command` with releasemon's environment, less {@link HOOK_HIDDEN_VARIABLES}, plus
 * `env`, logging its output, until it exits and its output closes. After `timeoutMs`, or when `signal` aborts, its process group gets
 * SIGTERM and, {@link HOOK_KILL_GRACE_MS} later, SIGKILL, both timed on `clock` (default: real
 * timers and a `now()` that never jumps). Works with `--allow-run=sh` alone.
 */
export async function runHook(
  kind: "pre" | "post" | "ready",
  command: string,
  env: Record<string, string>,
  options: {
    timeoutMs: number;
    signal?: AbortSignal;
    clock?: Clock;
    /** Names the command in log lines. @default "pre-restart" / "post-restart" */
    label?: string;
    /** Receives each line of output instead of the log (readiness checks: at debug level). */
    onLine?: (line: string, stream: "stdout" | "stderr") => void;
    /** Time between SIGTERM and SIGKILL. @default HOOK_KILL_GRACE_MS */
    killGraceMs?: number;
  },
): Promise<HookResult> {
  const { timeoutMs, signal, clock = monotonicClock, killGraceMs = HOOK_KILL_GRACE_MS } = options;
  checkPositive("timeoutMs", timeoutMs);
  const started = clock.now();
  const label = options.label ?? `${kind}-restart`;
  const notStarted = (reason: string): HookResult => ({
    ok: false,
    exitCode: null,
    signal: null,
    timedOut: false,
    durationMs: Math.round(clock.now() - started),
    reason,
  });
  if (signal?.aborted) return notStarted("cancelled before it started");

  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("sh", {
      // Deno.Command can only add to the inherited environment (clearEnv would need to read all
      // of it, which --allow-env=<names> forbids), so a first shell drops the passwords and
      // execs the hook's shell: same pid and process group, the command still only in argv.
      args: ["-c", `unset ${HOOK_HIDDEN_VARIABLES.join(" ")}; exec sh -c "$1"`, "sh", command],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true, // setsid(): the hook and everything it starts form one process group
    }).spawn();
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return notStarted(`cannot start "sh": ${detail}`);
  }
  logger.debug("{label}: started as process group {pid}", { label, pid: child.pid });

  let stopping: "timeout" | "cancelled" | null = null;
  let killTimer: TimerHandle | undefined;
  const kills: Promise<void>[] = [];
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const stop = (why: "timeout" | "cancelled") => {
    if (stopping) return;
    stopping = why;
    kills.push(_signalGroup(child, "SIGTERM"));
    killTimer = clock.setTimer(() => {
      kills.push(_signalGroup(child, "SIGKILL"));
      // A process that left the group (setsid) may still hold the pipes: stop reading them.
      for (const reader of readers) reader.cancel().catch(() => {});
    }, killGraceMs);
  };
  const timeoutTimer = clock.setTimer(() => stop("timeout"), timeoutMs);
  const onAbort = () => stop("cancelled");
  signal?.addEventListener("abort", onAbort, { once: true });

  let status: Deno.CommandStatus;
  try {
    [status] = await Promise.all([
      child.status,
      _pumpLines(readers[0]!, (line) => {
        if (options.onLine) options.onLine(line, "stdout");
        else logger.info(`${label}: ${line}`);
      }),
      _pumpLines(readers[1]!, (line) => {
        if (options.onLine) options.onLine(line, "stderr");
        else logger.warn(`${label}: ${line}`);
      }),
    ]);
  } finally {
    timeoutTimer.cancel();
    killTimer?.cancel();
    signal?.removeEventListener("abort", onAbort);
    // Once stopped, nothing of the hook may outlive it, not even what ignored SIGTERM.
    if (stopping) kills.push(_signalGroup(child, "SIGKILL"));
    await Promise.all(kills);
  }

  const durationMs = Math.round(clock.now() - started);
  const exitCode = status.signal === null ? status.code : null;
  const result: HookResult = {
    ok: stopping === null && status.success,
    exitCode,
    signal: status.signal,
    timedOut: stopping === "timeout",
    durationMs,
  };
  if (stopping === "timeout") result.reason = `timed out after ${formatDuration(timeoutMs)}`;
  else if (stopping === "cancelled") result.reason = "cancelled";
  else if (status.signal !== null) result.reason = `killed by ${status.signal}`;
  else if (!status.success) result.reason = `exited with status ${status.code}`;
  logger.debug("{label}: finished in {durationMs}", { label, ...result });
  return result;
}

/** Signals the hook's whole process group, and the shell itself in case that fails. */
async function _signalGroup(
  child: Deno.ChildProcess,
  signal: "SIGTERM" | "SIGKILL",
): Promise<void> {
  try {
    // Deno.kill() on a group needs unrestricted --allow-run; with --allow-run=sh, sh's own kill
    // builtin signals the group instead.
    if (Deno.permissions.querySync({ name: "run" }).state === "granted") {
      Deno.kill(-child.pid, signal);
    } else {
      await new Deno.Command("sh", {
        args: ["-c", 'kill -s "$1" -- "-$2"', "sh", signal.slice(3), String(child.pid)],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
    }
  } catch {
    // The group is gone already (ESRCH), or sh cannot be run.
  }
  try {
    child.kill(signal);
  } catch {
    // The shell has exited already.
  }
}

/**
 * Reads a stream to its end, calling `emit` for each line (without "\n" or "\r"). Lines longer
 * than {@link MAX_HOOK_LINE_BYTES} are cut and marked; memory stays bounded whatever the input.
 */
async function _pumpLines(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  emit: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder(); // not fatal: invalid UTF-8 becomes U+FFFD
  const line = new Uint8Array(MAX_HOOK_LINE_BYTES);
  let length = 0;
  let dropped = 0;
  const flush = () => {
    let end = length;
    if (dropped === 0 && end > 0 && line[end - 1] === 0x0d) end--;
    const text = decoder.decode(line.subarray(0, end));
    emit(dropped > 0 ? `${text}… (line cut, ${length + dropped} bytes)` : text);
    length = 0;
    dropped = 0;
  };
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      let start = 0;
      while (start < value.length) {
        const newline = value.indexOf(NEWLINE, start);
        const end = newline === -1 ? value.length : newline;
        const room = Math.min(end - start, MAX_HOOK_LINE_BYTES - length);
        line.set(value.subarray(start, start + room), length);
        length += room;
        dropped += end - start - room;
        if (newline === -1) break;
        flush();
        start = newline + 1;
      }
    }
  } catch {
    // Cancelled after SIGKILL, or the pipe broke: what was read is logged below.
  } finally {
    reader.releaseLock();
  }
  if (length > 0 || dropped > 0) flush();
}
