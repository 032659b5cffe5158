/**
 * The only sleeps a test may take. Tests wait on observable conditions under deadlines
 * (`waitFor`, `waitForRunning`, `waitForLog`, `Events.until`); a plain sleep is allowed only where
 * the passing time itself is the point:
 *
 * - {@linkcode quietPeriod}: the assertion is that nothing happens for a while (no wrong event,
 *   no restart), so the test must give it the chance to happen;
 * - {@linkcode writerPause}: a simulated deploy script's own pause between writes (the workload
 *   under test, not synchronisation).
 *
 * @module
 */

/** Longest quiet period: a wrong event shows within the settle window (200 ms) plus a restart. */
export const MAX_QUIET_MS = 1_000;

/**
 * Waits `ms` during which the test asserts that nothing happens; `why` names what must not
 * happen. Kept short: a quiet period makes a test slower, never more reliable.
 */
export function quietPeriod(ms: number, why: string): Promise<void> {
  if (!(ms >= 0 && ms <= MAX_QUIET_MS)) {
    throw new RangeError(`Cannot wait a quiet period of ${ms} ms: must be 0–${MAX_QUIET_MS} ms`);
  }
  if (why.trim() === "") {
    throw new TypeError("Cannot wait a quiet period: say what must not happen");
  }
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A simulated writer's pause of `ms` between two writes, like `sleep 0.01` in a deploy script. */
export function writerPause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits (deadline 5 s) until the kernel stamps a new inode change in a later second than `sec`:
 * probes by writing `<dir>/.clock-probe` and reading its ctime, the clock catch-up compares with
 * supervisord's `start` seconds. Removes the probe.
 */
export async function waitForLaterSecond(dir: string, sec: number): Promise<void> {
  const probe = `${dir}/.clock-probe`;
  const deadline = Date.now() + 5_000;
  try {
    for (;;) {
      await Deno.writeTextFile(probe, "");
      const ctime = (await Deno.lstat(probe)).ctime?.getTime() ?? 0;
      if (Math.floor(ctime / 1000) > sec) return;
      if (Date.now() > deadline) {
        throw new Error(`Timed out after 5000 ms waiting for a file change stamped after ${sec} s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}
