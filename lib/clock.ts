/**
 * Time as a dependency, so the pure machine and the loop can run under a fake clock in tests.
 *
 * @module
 */
import { checkNonNegative } from "./check.ts";

/** A cancellable timer handle. */
export interface TimerHandle {
  cancel(): void;
}

/** Wall-clock time and timers. `tests/support/fake_clock.ts` implements the same interface. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` once after `delayMs`; the handle cancels it. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const id = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(id) };
  },
};

/**
 * Calls `callback` once the current task is done (a microtask), cancellably: for work due now.
 * A timer of 0 ms would cost more: Deno fires timers no sooner than about 2 ms (measured on
 * 2.9.6: `setTimeout(f, 0)` runs after 2.2 ms median), which is a tenth of the restart overhead
 * releasemon allows itself (issue 16).
 */
export function soon(callback: () => void): TimerHandle {
  let cancelled = false;
  queueMicrotask(() => {
    if (!cancelled) callback();
  });
  return { cancel: () => cancelled = true };
}

/** Resolves after `delayMs` on `clock`, or rejects with the signal's reason when aborted. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  checkNonNegative("delayMs", delayMs);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The real timers, with a `now()` that never jumps (the monotonic clock, counted from the epoch at
 * process start): for measuring how long something took or waited, immune to the wall clock being
 * set. Its `now()` drifts from {@linkcode systemClock}'s; never compare the two.
 */
export const monotonicClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer: systemClock.setTimer,
};
