/**
 * Pure timing formulas: the pre-restart delay (fixed plus random, to stagger a fleet) and the
 * capped exponential backoff used while supervisord is unreachable.
 *
 * @module
 */
import { checkNonNegative } from "./check.ts";

/**
 * The delay before a restart: `fixedMs` plus a uniform random share of `randomMs`.
 * `random` returns a number in [0, 1), like `Math.random`; injected so tests are exact.
 */
export function restartDelayMs(fixedMs: number, randomMs: number, random: () => number): number {
  checkNonNegative("fixedMs", fixedMs);
  checkNonNegative("randomMs", randomMs);
  // [0, randomMs] inclusive in practice: Math.round lets the upper bound be reached.
  return fixedMs + Math.round(random() * randomMs);
}

/** Backoff settings; the defaults suit "supervisord is restarting" (back within seconds). */
export interface BackoffOptions {
  /** @default 250 */
  initialMs?: number;
  /** @default 10_000 */
  maxMs?: number;
}

/** Delay before retry number `attempt` (0-based): doubles from `initialMs`, capped at `maxMs`. */
export function backoffMs(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? 250;
  const maxMs = options.maxMs ?? 10_000;
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(
      `Cannot compute backoff for attempt "${attempt}": must be an integer >= 0`,
    );
  }
  // 2 ** 40 already dwarfs any sane cap; clamping avoids Infinity for absurd attempt counts.
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 40));
}

/** "12.5 seconds", "250 ms", "2 minutes 5 seconds": durations for humans in log lines. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) {
    const rounded = Number(seconds.toFixed(1));
    return `${rounded} second${rounded === 1 ? "" : "s"}`;
  }
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  const minuteText = `${minutes} minute${minutes === 1 ? "" : "s"}`;
  return rest === 0 ? minuteText : `${minuteText} ${rest} seconds`;
}
