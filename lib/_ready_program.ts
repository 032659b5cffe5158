/**
 * One program's readiness, pure: `stepReady(state, event, limits)` returns the next state and
 * the one action to take, as data. `readiness.ts` runs the attempts (a `--ready-check` command or
 * a `--ready-url` GET), waits on the injected `Clock`, and feeds the results back as events.
 *
 *   checking ──(attempt failed, time left)──→ waiting ──(next attempt due)──→ checking
 *   checking ──(attempt succeeded)──→ ready
 *   checking | waiting ──(deadline passed, or aborted)──→ not-ready
 *
 * Attempts start every `intervalMs` (counted from the start of the previous one; at once when an
 * attempt took longer), so readiness is seen at most one interval (plus an attempt) after it
 * happens. Each attempt may run until the deadline, no longer.
 *
 * @module
 */

/** How long to try and how often. */
export interface ReadyLimits {
  intervalMs: number;
  timeoutMs: number;
}

interface Common {
  /** When the program was seen RUNNING and checking began (on the runner's clock). */
  since: number;
  /** What the last failed attempt said: its last line of output, the HTTP status, the error. */
  last: string | null;
}

export type ReadyState =
  | Common & { phase: "checking"; attemptStartedAt: number }
  | Common & { phase: "waiting"; nextAt: number }
  | Common & { phase: "ready"; afterMs: number }
  | Common & { phase: "not-ready"; reason: string };

export type ReadyEvent =
  /** The attempt in flight ended: `ok` when the program answered ready. */
  | { type: "AttemptEnded"; now: number; ok: boolean; detail: string | null }
  /** The time the runner was told to wait for has come. */
  | { type: "TimeReached"; now: number }
  /** releasemon is stopping: no more attempts. */
  | { type: "Aborted"; now: number };

export type ReadyAction =
  /** Run one attempt, allowed to take at most `timeLimitMs`. */
  | { type: "Attempt"; timeLimitMs: number }
  /** Wait until `at`, then send TimeReached. */
  | { type: "WaitUntil"; at: number }
  /** Nothing more to do: the state is ready or not-ready. */
  | { type: "Finish" }
  /** An event the state does not handle: carry on with what was under way. */
  | { type: "None" };

export interface ReadyStep {
  state: ReadyState;
  action: ReadyAction;
}

/** Checking begins at `now` (the program was just seen RUNNING): the first attempt runs at once. */
export function beginReady(now: number, limits: ReadyLimits): ReadyStep {
  return {
    state: { phase: "checking", since: now, last: null, attemptStartedAt: now },
    action: { type: "Attempt", timeLimitMs: limits.timeoutMs },
  };
}

/** `timeoutMs` as operators read it in the failure reason: `60 s`, `2.5 s`. */
export function secondsText(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** The next state and action; finished states ignore every event. */
export function stepReady(state: ReadyState, event: ReadyEvent, limits: ReadyLimits): ReadyStep {
  if (state.phase === "ready" || state.phase === "not-ready") {
    return { state, action: { type: "Finish" } };
  }
  const deadline = state.since + limits.timeoutMs;
  const notReady = (last: string | null, why?: string): ReadyStep => ({
    state: {
      phase: "not-ready",
      since: state.since,
      last,
      reason: why ??
        `not ready after ${secondsText(limits.timeoutMs)}: ${last ?? "no attempt finished"}`,
    },
    action: { type: "Finish" },
  });
  if (event.type === "Aborted") {
    return notReady(state.last, "not ready yet when releasemon stopped waiting (stopping)");
  }
  if (event.type === "AttemptEnded") {
    if (state.phase !== "checking") return { state, action: { type: "None" } };
    if (event.ok) {
      return {
        state: {
          phase: "ready",
          since: state.since,
          last: event.detail,
          afterMs: event.now - state.since,
        },
        action: { type: "Finish" },
      };
    }
    const last = event.detail ?? state.last;
    if (event.now >= deadline) return notReady(last);
    const nextAt = Math.min(
      Math.max(state.attemptStartedAt + limits.intervalMs, event.now),
      deadline,
    );
    if (nextAt <= event.now) return attempt({ ...state, last }, event.now, deadline);
    return {
      state: { phase: "waiting", since: state.since, last, nextAt },
      action: { type: "WaitUntil", at: nextAt },
    };
  }
  // TimeReached: only a waiting program waits for a time.
  if (state.phase === "checking") return { state, action: { type: "None" } };
  if (event.now < state.nextAt) return { state, action: { type: "WaitUntil", at: state.nextAt } };
  if (event.now >= deadline) return notReady(state.last);
  return attempt(state, event.now, deadline);
}

function attempt(state: Common, now: number, deadline: number): ReadyStep {
  return {
    state: { phase: "checking", since: state.since, last: state.last, attemptStartedAt: now },
    action: { type: "Attempt", timeLimitMs: deadline - now },
  };
}
