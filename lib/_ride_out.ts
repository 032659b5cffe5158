/**
 * Patience mid-restart. Once a restart has stopped a program, no failed call may end it early:
 * supervisord unreachable, an HTTP 502 from a proxy, a password changed under us, a garbled
 * answer or a fault for the whole call are all ridden out for a grace period, and only then do
 * the programs still open fail, with the error's text. Shared by `restart.ts` (programs) and
 * `config_update.ts` (groups).
 *
 * @module
 */
import { type Clock, monotonicClock, sleep } from "./clock.ts";
import { formatDuration } from "./delay.ts";
import { SupervisorFault } from "./errors.ts";
import type { ProcessInfo, SupervisorClient } from "./supervisor/client.ts";
import { STOPPED_STATES } from "./supervisor/states.ts";

/** How long calls that fail are retried, and the clock they are measured on. */
export interface Pace {
  clock: Clock;
  /** How long to keep trying while calls fail. @default 30_000 */
  graceMs: number;
}

/** How long a restart rides out failing calls before giving up on the programs still open. */
export const UNREACHABLE_GRACE_MS = 30_000;

/** Pause between attempts while calls fail. */
export const RETRY_PAUSE_MS = 250;

/** The pace on `clock` (a fake one in tests), by default real time that never jumps. */
export function paceOf(clock: Clock = monotonicClock): Pace {
  return { clock, graceMs: UNREACHABLE_GRACE_MS };
}

/** Text for any failure, for a program's reason. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `call` until it answers. A {@link SupervisorFault} is supervisord's answer and is thrown
 * at once; any other error is retried for `pace.graceMs`, then the last one is thrown.
 */
export async function patiently<T>(pace: Pace, call: () => Promise<T>): Promise<T> {
  const since = pace.clock.now();
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (error instanceof SupervisorFault) throw error;
      if (pace.clock.now() - since >= pace.graceMs) throw error;
      await sleep(pace.clock, RETRY_PAUSE_MS);
    }
  }
}

/**
 * Polls until every one of `namespecs` is down (STOPPED, EXITED, FATAL) or gone from supervisord.
 * A graceful stop takes as long as the program's stopwaitsecs, so this waits up to `stopTimeoutMs`,
 * not an RPC timeout. Returns the programs still up at the deadline, each with why.
 */
export async function waitUntilStopped(
  client: SupervisorClient,
  namespecs: readonly string[],
  pace: Pace,
  stopTimeoutMs: number,
): Promise<Map<string, string>> {
  const { clock } = pace;
  const started = clock.now();
  let open = [...namespecs];
  let failingSince: number | null = null;
  while (open.length > 0) {
    let infos: ProcessInfo[];
    try {
      infos = await client.getAllProcessInfo();
      failingSince = null;
    } catch (error) {
      failingSince ??= clock.now();
      if (clock.now() - failingSince >= pace.graceMs) {
        return new Map(open.map((n) => [n, `lost contact with supervisord: ${errorText(error)}`]));
      }
      await sleep(clock, RETRY_PAUSE_MS);
      continue;
    }
    const state = new Map(infos.map((info) => [info.namespec, info.state]));
    open = open.filter((n) => {
      const now = state.get(n);
      return now !== undefined && !STOPPED_STATES.includes(now);
    });
    if (open.length === 0) break;
    if (clock.now() - started >= stopTimeoutMs) {
      return new Map(
        open.map((n) => [n, `still ${state.get(n)} after ${formatDuration(stopTimeoutMs)}`]),
      );
    }
    await sleep(clock, pollMs(clock.now() - started));
  }
  return new Map();
}

/** Poll quickly at first (most stops take milliseconds), then back off to spare supervisord. */
function pollMs(elapsedMs: number): number {
  if (elapsedMs < 1_000) return 10;
  if (elapsedMs < 5_000) return 50;
  return 200;
}
