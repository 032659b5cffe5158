/**
 * When to read the version file after file-system hints (a pure reducer over (state, hint, now)),
 * and whether what was read is worth reporting (a pure reducer over (state, read)).
 *
 * A fixed settle window adds its whole length to every restart. Instead, a hint that says the
 * writer is done is read at once or nearly: the close after an in-place write (inotify's
 * IN_CLOSE_WRITE, which Deno reports as `access`) at once, as nothing of that write is left to
 * arrive; a rename onto the name or a symlink swapped (what deploy tools do) after
 * `quickSettleMs`, which lets the rest of that rename's events arrive first. Where nothing says the writer is done (a
 * modify with no close yet: a writer that keeps the file open, a touch, polling), the read waits
 * `settleMs` of quiet, as does anything that went away. Once more than one write is seen (a burst:
 * a write that starts within `settleMs` of the previous one) every hint pushes the read to
 * `settleMs` after it, but never past `maxSettleMs` after the first hint, so a file rewritten
 * forever is still read. A burst therefore costs at most two reads: its first write, read at once,
 * and its final content, read when the burst is over.
 *
 * No timers here: the watcher arms one timer at {@linkcode SettlingState.deadlineAt} and calls
 * {@linkcode settleOnTimer} when it fires.
 *
 * @module
 */

import { checkNonNegative } from "../check.ts";
import type { Version, VersionRead } from "./version_file.ts";

/**
 * What a hint says about the write.
 * - `closed`: an in-place write was closed: the writer is done, and its last event has arrived.
 * - `landed`: new content landed atomically (a rename onto the name, a symlink swapped): the
 *   writer is done, and the rename's other events follow within a fraction of a ms.
 * - `writing`: being written in place (modify, create, touch, chmod) with no close yet.
 * - `removed`: something on the path went away (deleted, renamed away, a watched directory moved).
 */
export type Hint = "closed" | "landed" | "writing" | "removed";

/** The role of the name an event touched: the version file, a link or directory on its path, or a watched directory itself. */
export type HintRole = "file" | "link" | "self";

/** Settle timings, all in ms. */
export interface SettleOptions {
  /** Quiet time after a lone write landed by a rename or symlink swap. @default {2} */
  quickSettleMs: number;
  /** Quiet time after a bare modify, and after every hint of a burst. @default {200} */
  settleMs: number;
  /** Longest time from the first hint of a sequence to the read. @default {5000} */
  maxSettleMs: number;
}

/**
 * Measured on Linux (Deno 2.9.6): a rename gives its two or three events within ~0.3 ms. A rename
 * or a symlink swap is atomic, so the content is final the moment it lands: 1 ms only lets that
 * operation's own events arrive (the old ConfigMap directory removed just after is a later,
 * separate hint), and keeps the wait out of the restart overhead. Deno fires a timer no sooner
 * than about 2 ms whatever its delay, so 1 ms costs that and no more (2 ms cost about 3).
 */
export const DEFAULT_QUICK_SETTLE_MS = 1;
/**
 * A writer still writing, or a tool writing several times in a row (a script appending lines, a
 * sync tool), does so within tens of ms; 200 ms spans that plus scheduler hiccups, and is small
 * next to a program restart (seconds).
 */
export const DEFAULT_SETTLE_MS = 200;
/** A file rewritten forever is still read every 5 s: bounded staleness, bounded work. */
export const DEFAULT_MAX_SETTLE_MS = 5000;

/** No hint pending. `lastHintAt` remembers the previous sequence to recognise a burst across reads. */
export interface IdleState {
  phase: "idle";
  lastHintAt: number | null;
}

/** Hints arrived; read at `deadlineAt` unless another hint moves it. */
export interface SettlingState {
  phase: "settling";
  startedAt: number;
  lastHintAt: number;
  /** A write completed in this sequence. */
  landed: boolean;
  /** A write began and has not completed yet. */
  writing: boolean;
  /** More than one write: every hint now waits `settleMs`. */
  burst: boolean;
  deadlineAt: number;
}

export type SettleState = IdleState | SettlingState;

/** The state before any hint. */
export const SETTLE_IDLE: IdleState = { phase: "idle", lastHintAt: null };

/** Fills in defaults and checks the numbers (RangeError, naming the option). */
export function settleOptions(
  options: { [K in keyof SettleOptions]?: number | undefined } = {},
): SettleOptions {
  const resolved = {
    quickSettleMs: options.quickSettleMs ?? DEFAULT_QUICK_SETTLE_MS,
    settleMs: options.settleMs ?? DEFAULT_SETTLE_MS,
    maxSettleMs: options.maxSettleMs ?? DEFAULT_MAX_SETTLE_MS,
  };
  for (const [name, value] of Object.entries(resolved)) checkNonNegative(name, value);
  if (resolved.quickSettleMs > resolved.settleMs || resolved.settleMs > resolved.maxSettleMs) {
    throw new RangeError(
      `Cannot use settle times ${resolved.quickSettleMs}/${resolved.settleMs}/${resolved.maxSettleMs} ms: ` +
        "need quickSettleMs <= settleMs <= maxSettleMs",
    );
  }
  return resolved;
}

/** Applies one relevant hint at `now`; the result always has a `deadlineAt`. */
export function settleOnHint(
  state: SettleState,
  hint: Hint,
  now: number,
  options: SettleOptions,
): SettlingState {
  let next: Omit<SettlingState, "deadlineAt">;
  if (state.phase === "idle") {
    // Hints closer than settleMs to the previous sequence's last hint: the writer is still busy
    // (the first write was read quickly; the ones that follow wait for the burst to end).
    const continuing = state.lastHintAt !== null && now - state.lastHintAt < options.settleMs;
    next = {
      phase: "settling",
      startedAt: now,
      lastHintAt: now,
      landed: hint === "landed" || hint === "closed",
      writing: hint === "writing",
      burst: continuing && hint !== "removed",
    };
  } else {
    next = {
      ...state,
      lastHintAt: now,
      landed: state.landed || hint === "landed" || hint === "closed",
      writing: hint === "writing" || (state.writing && hint !== "landed" && hint !== "closed"),
      // After a completed write, a new write starting or landing is a second write. A removal is
      // not: it is the clean-up of the same update (the old ConfigMap directory going away).
      burst: state.burst || (state.landed && hint !== "removed"),
    };
  }
  // Only removals so far: the replacement is probably on its way (delete + recreate, an editor's
  // save, a directory moved away), so give it settleMs before reporting the file missing.
  const quick = next.landed && !next.writing && !next.burst;
  // A lone write just closed: read now (the watcher does so without a timer round trip).
  const quietMs = !quick ? options.settleMs : hint === "closed" ? 0 : options.quickSettleMs;
  const deadlineAt = Math.min(now + quietMs, next.startedAt + options.maxSettleMs);
  return { ...next, deadlineAt };
}

/** Called when the timer armed for `deadlineAt` fires: read now, or not yet (a stale timer). */
export function settleOnTimer(
  state: SettleState,
  now: number,
): { state: SettleState; read: boolean } {
  if (state.phase === "idle" || now < state.deadlineAt) return { state, read: false };
  return { state: { phase: "idle", lastHintAt: state.lastHintAt }, read: true };
}

/**
 * Turns a Deno.watchFs event kind, seen on a name with `role`, into a hint.
 *
 * Measured on Linux: `access` is the close after writing; a rename reports `remove` for the old
 * name and `rename` for the new one; a symlink created to a missing target reports `remove`.
 */
export function hintFor(kind: string, role: HintRole): Hint {
  if (role === "self") return "removed";
  if (kind === "remove") return "removed";
  if (role === "link") return "landed";
  if (kind === "rename") return "landed";
  // access: the close after an in-place write (IN_CLOSE_WRITE; reads report nothing). The writer
  // says it is done, as a rename does; should it write again at once (a shell loop, a slow copy
  // closing between chunks), that second write makes a burst, which waits for quiet.
  if (kind === "access") return "closed";
  // create (an empty file, opened for writing), modify (written, truncated, touched, chmod-ed),
  // and anything unknown: the writer may not be done; wait for the writes to stop.
  return "writing";
}

/** What the watcher remembers between reads, so that each change is reported once. */
export interface ReportState {
  /** The last version reported, or the baseline. Identity is the content hash. */
  last: Version | null;
  /** The file's absence was reported (or it was missing at start); cleared by a version. */
  missingReported: boolean;
  /** The last unreadable reason warned about; cleared by any other read. */
  unreadableReason: string | null;
}

/** Nothing read yet. */
export const REPORT_INITIAL: ReportState = {
  last: null,
  missingReported: false,
  unreadableReason: null,
};

/** What to do about one read: at most one event to deliver and one warning to log. */
export interface ReportDecision {
  state: ReportState;
  report: "VersionSeen" | "VersionMissing" | null;
  warn: "missing" | "unreadable" | null;
}

/**
 * Decides what a read means. A version is news only when its hash differs from the last one
 * (rewritten, touched, chmod-ed: nothing; back after a deletion with the same content: nothing).
 * An empty file is a write in progress: nothing. Missing is reported and warned once until a
 * version is read again; an unreadable file is warned once per distinct reason, never reported.
 */
export function reportRead(state: ReportState, read: VersionRead): ReportDecision {
  const unreadableReason = read.kind === "unreadable" ? read.reason : null;
  switch (read.kind) {
    case "version": {
      const next = { last: read.version, missingReported: false, unreadableReason };
      const news = state.last?.hash !== read.version.hash;
      return {
        state: news ? next : { ...next, last: state.last },
        report: news ? "VersionSeen" : null,
        warn: null,
      };
    }
    case "missing":
      return {
        state: { ...state, missingReported: true, unreadableReason },
        report: state.missingReported ? null : "VersionMissing",
        warn: state.missingReported ? null : "missing",
      };
    case "empty":
      return { state: { ...state, unreadableReason }, report: null, warn: null };
    case "unreadable":
      return {
        state: { ...state, unreadableReason },
        report: null,
        warn: read.reason === state.unreadableReason ? null : "unreadable",
      };
  }
}
