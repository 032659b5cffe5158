/**
 * What every benchmark shares: printing, sleeping, statistics, a high-resolution CLOCK_REALTIME,
 * tailing a log file without re-reading it, and landing a version the way deploy tools do.
 *
 * @module
 */
import { supervisordLogTime as supervisordTime } from "../../tests/support/supervisord.ts";

const encoder = new TextEncoder();

/** Writes one line to stdout (the lint forbids `console.*`). */
export function say(text = ""): void {
  let bytes = encoder.encode(`${text}\n`);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

/** Sleeps `ms`; rejects with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Polls `probe` every `intervalMs` until it returns a value; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) {
      throw new Error(
        `Cannot finish the benchmark: timed out after ${timeoutMs} ms waiting for ${what}`,
      );
    }
    const intervalMs = options.intervalMs ?? 5;
    if (intervalMs > 0) await sleep(intervalMs, options.signal);
    else options.signal?.throwIfAborted();
  }
}

/** Summary of a sample, in the sample's unit. */
export interface Stats {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

/** The value at quantile `q` of sorted `values` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** `12.3` style, or `n/a` for NaN. */
export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

/**
 * A sub-millisecond reading of CLOCK_REALTIME (the clock of `date +%s.%N` and Python's
 * `time.time_ns()`), in ms since the epoch. `Date.now()` reads CLOCK_REALTIME but only in whole
 * ms, and `performance.now()` is monotonic: spinning until `Date.now()` ticks gives the offset
 * between the two to a few µs. Calibrate again before each measurement, so neither NTP slewing
 * nor a clock step can build up.
 */
export class RealtimeClock {
  #offsetMs = 0;

  constructor() {
    this.calibrate();
  }

  /** Median of 5 tick-edge offsets (one preempted spin cannot skew it); takes about 5 ms. */
  calibrate(): void {
    const offsets: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = Date.now();
      let tick = before;
      let at = 0;
      while (tick === before) {
        at = performance.now();
        tick = Date.now();
      }
      offsets.push(tick - at);
    }
    this.#offsetMs = stats(offsets).median;
  }

  /** CLOCK_REALTIME now, in ms since the epoch (fractional). */
  now(): number {
    return this.#offsetMs + performance.now();
  }
}

/** supervisord's log time in ms since the epoch, or NaN for a line without one. */
export function supervisordLogTime(line: string): number {
  try {
    return supervisordTime(line);
  } catch {
    return Number.NaN;
  }
}

/** releasemon's log time (ISO, UTC, ms) at the start of a line, or NaN. */
export function releasemonLogTime(line: string): number {
  return Date.parse(line.slice(0, line.indexOf(" ")));
}

/** Reads what a log file gained since the last call, in whole lines. */
export class LogTail {
  readonly path: string;
  #offset = 0;
  #partial = "";
  readonly #decoder = new TextDecoder();

  constructor(path: string) {
    this.path = path;
  }

  /** Skips everything written so far. */
  async skipToEnd(): Promise<void> {
    await this.lines();
  }

  /** Complete lines appended since the last call (an empty list when the file is missing). */
  async lines(): Promise<string[]> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    try {
      await file.seek(this.#offset, Deno.SeekMode.Start);
      const chunks: string[] = [];
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await file.read(buffer);
        if (n === null || n === 0) break;
        this.#offset += n;
        chunks.push(this.#decoder.decode(buffer.subarray(0, n), { stream: true }));
      }
      const text = this.#partial + chunks.join("");
      const end = text.lastIndexOf("\n");
      this.#partial = text.slice(end + 1);
      return end < 0 ? [] : text.slice(0, end).split("\n");
    } finally {
      file.close();
    }
  }
}

/**
 * Waits until every pid runs `comm` (/proc/<pid>/comm): supervisord's child has exec'd. Before
 * that, the child is a copy of supervisord whose Python signal handlers swallow SIGTERM, so a
 * stop sent then is lost and costs stopwaitsecs.
 */
export async function waitExeced(
  pids: readonly number[],
  comm: string,
  signal?: AbortSignal,
): Promise<void> {
  for (const pid of pids) {
    await until(`pid ${pid} to exec ${comm}`, async () => {
      const now = await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "");
      return now.trim() === comm || undefined;
    }, { intervalMs: 1, ...(signal ? { signal } : {}) });
  }
}

/**
 * The version file, in a directory of its own under the supervisord's temp dir: supervisord's
 * log and the programs' logs are written in the temp dir itself, and a watcher on that directory
 * would be woken by every log line (a real deploy dir sees only deploys).
 */
export const VERSION_FILE = "app/VERSION";

/** The version file of `sv`. */
export function versionPath(sv: { dir: string }): string {
  return `${sv.dir}/${VERSION_FILE}`;
}

/**
 * Lands `content` at `path` the way deploy tools do (write a temp file, rename it over), and
 * returns CLOCK_REALTIME (ms) taken just before the rename: the moment the version appears.
 */
export async function deployVersion(
  path: string,
  content: string,
  clock: RealtimeClock,
): Promise<number> {
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.tmp`;
  await Deno.writeTextFile(tmp, content);
  clock.calibrate();
  const at = clock.now();
  await Deno.rename(tmp, path);
  return at;
}
