/**
 * Detection latency: a version lands → the first stop request reaches supervisord.
 *
 * The target is a tiny Python program that traps SIGTERM and appends `time.time_ns()`
 * (CLOCK_REALTIME, ns) to a file as the handler's first act; the bench stamps CLOCK_REALTIME
 * ({@link RealtimeClock}, µs) just before renaming the new version over the old. supervisord
 * signals the program inside its handling of `stopProcess`, so the trap time is the request's
 * arrival plus supervisord's own handling (well under a ms). supervisord's debug line "killing
 * trap (pid N) … with signal SIGTERM", written in the same handler, is the cross-check (ms,
 * truncated); releasemon's info line "Restarting 1 program(s)" splits the latency into
 * "noticed and planned" and "stop request sent and handled".
 *
 * @module
 */
import type { BenchOptions, Section } from "./section.ts";
import {
  deployVersion,
  fixed,
  LogTail,
  RealtimeClock,
  releasemonLogTime,
  sleep,
  stats,
  supervisordLogTime,
  until,
  VERSION_FILE,
  versionPath,
} from "./support.ts";
import { releasemonFor, startBenchSupervisord, waitUntilWatching } from "./supervisord.ts";

/** Appends `ready <pid> <ns>` once the handler is in place, and `term <pid> <ns>` on SIGTERM. */
const TRAP_PY = `import os, signal, sys, time
out = sys.argv[1]
def on_term(signum, frame):
    at = time.time_ns()
    with open(out, "a") as f:
        f.write("term %d %d\\n" % (os.getpid(), at))
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(out, "a") as f:
    f.write("ready %d %d\\n" % (os.getpid(), time.time_ns()))
while True:
    signal.pause()
`;

/** Writes closer than settleMs (200 ms) to the previous one count as a burst and wait 200 ms. */
const LONE_WRITE_GAP_MS = 300;

interface Sample {
  /** Version landed (rename) → SIGTERM trapped, ms. */
  trapMs: number;
  /** Version landed → supervisord's "killing" line (ms resolution, +0.5 for truncation). */
  supervisordMs: number;
  /** Version landed → releasemon's "Restarting" line (ms resolution, +0.5). */
  plannedMs: number;
}

export async function benchDetection(options: BenchOptions): Promise<Section> {
  const writes = options.quick ? 10 : 40;
  const { signal } = options;
  const clock = new RealtimeClock();
  await using sv = await startBenchSupervisord(
    {
      files: { [VERSION_FILE]: "v0\n", "trap.py": TRAP_PY },
      // Only supervisord's own log: its "killing" line is a debug line.
      extraConfig: "[supervisord]\nloglevel=debug\n",
    },
    (sv) => [
      {
        name: "trap",
        command: `/usr/bin/python3 -I -S ${sv.dir}/trap.py ${sv.dir}/signals.txt`,
        options: { stopwaitsecs: 5 },
      },
      releasemonFor(sv, [versionPath(sv), "trap"]),
    ],
  );
  await waitUntilWatching(sv, signal);
  const signals = new LogTail(`${sv.dir}/signals.txt`);
  const releasemonLog = new LogTail(`${sv.dir}/releasemon.log`);
  const supervisordLog = new LogTail(`${sv.dir}/supervisord.log`);
  const seen: string[] = [];
  const nextSignal = (kind: "ready" | "term") =>
    until(`the trap program's "${kind}" line`, async () => {
      seen.push(...await signals.lines());
      const index = seen.findIndex((line) => line.startsWith(`${kind} `));
      if (index < 0) return undefined;
      const [line] = seen.splice(index, 1);
      const [, pid, ns] = line!.split(" ");
      return { pid: Number(pid), atMs: Number(BigInt(ns!) / 1000n) / 1000 };
    }, { timeoutMs: 30_000, intervalMs: 2, signal });
  let ready = await nextSignal("ready");
  await releasemonLog.skipToEnd();
  await supervisordLog.skipToEnd();

  const samples: Sample[] = [];
  let previousAt = -Infinity;
  for (let i = 1; i <= writes; i++) {
    // Let the new program settle, and keep writes further apart than releasemon's settle time
    // (200 ms), so that every write is a lone write, read after the quick settle (10 ms).
    await sleep(Math.max(150, previousAt + LONE_WRITE_GAP_MS - clock.now()), signal);
    const landedAt = await deployVersion(versionPath(sv), `v${i}\n`, clock);
    previousAt = landedAt;
    const term = await nextSignal("term");
    if (term.pid !== ready.pid) {
      throw new Error(`Cannot match SIGTERM: pid ${term.pid}, expected ${ready.pid}`);
    }
    ready = await nextSignal("ready");
    const planned = await plannedLine(releasemonLog, `"v${i}"`, signal);
    const killing = (await supervisordLog.lines()).find((line) =>
      new RegExp(`killing trap \\(pid ${term.pid}\\) .*SIGTERM`).test(line)
    );
    samples.push({
      trapMs: term.atMs - landedAt,
      supervisordMs: killing ? supervisordLogTime(killing) + 0.5 - landedAt : Number.NaN,
      plannedMs: releasemonLogTime(planned) + 0.5 - landedAt,
    });
    options.progress(`  detection ${i}/${writes}: ${fixed(term.atMs - landedAt, 2)} ms`);
  }
  return report(samples, writes);
}

/** Reads releasemon's log up to the "applied" line of `version`; returns its "Restarting" line. */
async function plannedLine(tail: LogTail, version: string, signal: AbortSignal): Promise<string> {
  const lines: string[] = [];
  await until(`releasemon to log version ${version} applied`, async () => {
    if (lines.some((line) => line.includes(`Version ${version} applied`))) return true;
    lines.push(...await tail.lines());
    return undefined;
  }, { signal });
  const planned = lines.find((line) => /Restarting \d+ program/.test(line));
  if (!planned) throw new Error(`Cannot find releasemon's "Restarting" line for ${version}`);
  return planned;
}

function report(samples: Sample[], writes: number): Section {
  const trap = stats(samples.map((s) => s.trapMs));
  const killing = stats(samples.map((s) => s.supervisordMs).filter(Number.isFinite));
  const planned = stats(samples.map((s) => s.plannedMs));
  const sent = stats(samples.map((s) => s.trapMs - s.plannedMs));
  const row = (what: string, s: ReturnType<typeof stats>, resolution: string) => [
    what,
    String(s.n),
    fixed(s.median, 2),
    fixed(s.p95, 2),
    fixed(s.min, 2),
    fixed(s.max, 2),
    resolution,
  ];
  return {
    id: "detection",
    title: "1. Detection latency (version lands → first stop request reaches supervisord)",
    method: [
      `${writes} versions, each landed by write-temp-then-rename (how deploy tools write), ` +
      "releasemon with no --fixed-delay/--random-delay, one target, the next write once the " +
      "target's new process runs.",
      "End point: the target (a 12-line Python program) traps SIGTERM and appends " +
      "`time.time_ns()` as its handler's first act; supervisord sends that signal inside its " +
      "handling of `stopProcess`, so this is the request's arrival plus supervisord's own " +
      "handling. Start point: CLOCK_REALTIME just before the rename, read with µs resolution " +
      "(performance.now() re-anchored to Date.now()'s ms tick before every write). Both sides " +
      "read CLOCK_REALTIME, so no clock conversion is involved.",
      'Cross-check: supervisord\'s own debug line "killing trap … with signal SIGTERM", ' +
      "written in the same handler, but only to the ms (truncated; +0.5 ms added). Split: " +
      'releasemon\'s info line "Restarting 1 program(s)" (ms) marks the end of notice + settle ' +
      "+ read + planning (one getAllProcessInfo); the rest is the stopProcess multicall.",
    ],
    tables: [{
      headers: ["measure (ms)", "n", "median", "p95", "min", "max", "resolution"],
      rows: [
        row("**land → SIGTERM trapped (the figure)**", trap, "µs"),
        row('land → supervisord "killing" log line', killing, "1 ms"),
        row('land → releasemon "Restarting" log line', planned, "1 ms"),
        row('"Restarting" line → SIGTERM trapped', sent, "1 ms"),
      ],
    }],
    goals: [],
    notes: [],
    data: { writes, samples, trap, killing, planned, sent },
  };
}
