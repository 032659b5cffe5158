/**
 * Restart overhead: version lands → the target's new pid RUNNING, against the floor, a direct
 * `stopProcess` + `startProcess` (wait=true) of the same program by the bench itself on the same
 * supervisord. Runs alternate (R D, D R, R D, …) so machine noise hits both alike.
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
  until,
  VERSION_FILE,
  versionPath,
  waitExeced,
} from "./support.ts";
import { releasemonFor, startBenchSupervisord, waitUntilWatching } from "./supervisord.ts";
import type { ProcessInfo } from "../../lib/supervisor/client.ts";

const TARGET = "app";
/**
 * Rest between runs, counted once the program has exec'd (a stop sent before that is lost): more
 * than releasemon's settle time (200 ms) since the previous version, so every write is a lone one.
 */
const REST_MS = 300;
/** One round; every other round runs in reverse. */
const ORDER = ["releasemon", "direct"] as const;

export async function benchOverhead(options: BenchOptions): Promise<Section> {
  const pairs = options.quick ? 6 : 30;
  const { signal } = options;
  const clock = new RealtimeClock();
  await using sv = await startBenchSupervisord(
    { files: { [VERSION_FILE]: "v0\n" }, programs: [{ name: TARGET, command: "sleep 3600" }] },
    (sv) => [releasemonFor(sv, [versionPath(sv), TARGET])],
  );
  await waitUntilWatching(sv, signal);
  const client = sv.benchClient();
  const log = new LogTail(`${sv.dir}/releasemon.log`);
  await log.skipToEnd();
  const releasemon: Sample[] = [];
  const direct: number[] = [];
  const pollRoundTrips: number[] = [];
  let version = 0;
  const namespec = `${TARGET}:${TARGET}`;
  /** Back-to-back getProcessInfo until `done`; returns CLOCK_REALTIME of the answer that said so. */
  const pollUntil = (what: string, done: (info: ProcessInfo) => boolean) =>
    until(what, async () => {
      const sent = clock.now();
      const info = await client.getProcessInfo(namespec);
      const now = clock.now();
      pollRoundTrips.push(now - sent);
      return done(info) ? now : undefined;
    }, { intervalMs: 0, signal, timeoutMs: 30_000 });

  const viaReleasemon = async (): Promise<Sample> => {
    const before = await client.getProcessInfo(namespec);
    version++;
    const landedAt = await deployVersion(versionPath(sv), `v${version}\n`, clock);
    // Tight poll: one getProcessInfo after another (each ~1 ms), ended by the first answer
    // showing a new pid RUNNING.
    const seenAt = await pollUntil(
      `${TARGET} to run a new pid`,
      (info) => info.state === "RUNNING" && info.pid !== before.pid,
    );
    // Let releasemon finish (its last poll, its log lines) before anything else runs.
    const lines: string[] = [];
    const applied = await until(`releasemon to apply v${version}`, async () => {
      lines.push(...await log.lines());
      return lines.find((l) => l.includes(`Version "v${version}" applied`));
    }, { signal });
    const planned = lines.find((l) => /Restarting \d+ program/.test(l)) ?? "";
    return {
      totalMs: seenAt - landedAt,
      plannedMs: releasemonLogTime(planned) + 0.5 - landedAt,
      rolloutMs: Number(applied.match(/ in (\d+) ms/)?.[1] ?? Number.NaN),
    };
  };
  const viaDirect = async (): Promise<number> => {
    const started = clock.now();
    await client.stopProcess(namespec, true);
    await client.startProcess(namespec, true);
    return clock.now() - started;
  };

  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? ORDER : [...ORDER].reverse();
    for (const which of order) {
      await waitExeced([(await client.getProcessInfo(namespec)).pid], "sleep", signal);
      await sleep(REST_MS, signal);
      if (which === "releasemon") releasemon.push(await viaReleasemon());
      else direct.push(await viaDirect());
    }
    options.progress(
      `  overhead ${i + 1}/${pairs}: releasemon ${fixed(releasemon.at(-1)!.totalMs)} ms, direct ${
        fixed(direct.at(-1)!)
      } ms`,
    );
  }
  return report(releasemon, direct, pollRoundTrips);
}

interface Sample {
  /** Version landed → the bench sees a new pid RUNNING. */
  totalMs: number;
  /** Version landed → releasemon's "Restarting" line (+0.5 for its ms truncation). */
  plannedMs: number;
  /** The rollout time releasemon's "applied … in N ms" line reports. */
  rolloutMs: number;
}

/** Each run of `a` minus the run of `b` in the same round. */
function pairedDifferences(a: number[], b: number[]): number[] {
  return a.map((value, i) => value - b[i]!);
}

function report(samples: Sample[], direct: number[], pollRoundTrips: number[]): Section {
  const releasemon = samples.map((s) => s.totalMs);
  const r = stats(releasemon);
  const d = stats(direct);
  const paired = stats(pairedDifferences(releasemon, direct));
  const planned = stats(samples.map((s) => s.plannedMs));
  const rollout = stats(samples.map((s) => s.rolloutMs));
  const poll = stats(pollRoundTrips);
  // The pairs share their moment's machine load; their differences cancel drift between rounds.
  const overheadMs = paired.median;
  const medianDifferenceMs = r.median - d.median;
  const row = (what: string, s: ReturnType<typeof stats>) => [
    what,
    String(s.n),
    fixed(s.median),
    fixed(s.p95),
    fixed(s.min),
    fixed(s.max),
  ];
  return {
    id: "overhead",
    title: "2. Restart overhead (version lands → new pid RUNNING, vs a direct restart)",
    method: [
      `${r.n} rounds on one supervisord and one \`sleep 3600\` program (startsecs=0); each round ` +
      "is a releasemon restart and a direct restart, in alternating order (R D, D R, …), each " +
      `${REST_MS} ms after the previous start's program exec'd \`sleep\` (/proc/<pid>/comm). The overhead is the median of the ` +
      "per-round differences (releasemon − direct): both runs of a round meet the same machine " +
      "load, so slow drift cancels; the difference of the two medians is shown too.",
      "releasemon: from just before the rename of the version file until the bench's own tight " +
      "getProcessInfo poll (back to back, no sleep) first shows a new pid RUNNING; the next run " +
      'waits for releasemon\'s "applied" line. Direct (the floor): the bench calls ' +
      "stopProcess(wait=true) then startProcess(wait=true) and times both answers. With " +
      "startsecs=0, supervisord makes the program RUNNING inside startProcess itself, so the " +
      "direct figure is two round trips plus the stop and the fork, with no deferred wait.",
      `The bench's poll round trip (median ${fixed(poll.median, 2)} ms, p95 ${
        fixed(poll.p95, 2)
      } ms) bounds how late it sees the new pid. Split of releasemon's runs from its info log ` +
      '(ms): land → "Restarting" line (notice, settle, read, plan) and the rollout time its ' +
      '"applied … in N ms" line reports (stop multicall, polls, start multicall, polls).',
    ],
    tables: [{
      headers: ["run (ms)", "n", "median", "p95", "min", "max"],
      rows: [
        row("releasemon: land → new pid RUNNING", r),
        row("direct: stopProcess + startProcess (wait=true)", d),
        row("**overhead: releasemon − direct, paired by round**", paired),
        ["median(releasemon) − median(direct)", "", fixed(medianDifferenceMs), "", "", ""],
        row('split: land → releasemon "Restarting" line', planned),
        row('split: releasemon\'s own rollout time ("applied … in N ms")', rollout),
      ],
    }],
    goals: [{
      name: "restart overhead",
      target: "≤ 20 ms median",
      measured: `${fixed(overheadMs)} ms (median of paired differences; difference of medians ${
        fixed(medianDifferenceMs)
      } ms)`,
      pass: overheadMs <= 20,
    }],
    notes: [],
    data: {
      samples,
      direct,
      stats: { releasemon: r, direct: d, paired, planned, rollout, poll },
      overheadMs,
      medianDifferenceMs,
    },
  };
}
