/**
 * Restart overhead: version lands → the target's new pid RUNNING, against the floor, a direct
 * `stopProcess` + `startProcess` (wait=true) of the same program by the bench itself on the same
 * supervisord. Both end when the same observer, a tight getProcessInfo poll that runs during both,
 * first shows the new pid RUNNING: the poll loads supervisord and answers a little late, alike
 * for both. Runs alternate (R D, D R, R D, …) so machine noise hits both alike. Once per
 * deploy style (in-place write, write-then-rename, symlink swap, delete + recreate), each on a
 * supervisord and releasemon of its own.
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

/** How a deploy puts the new version in place. */
export type DeployStyle = "in-place" | "rename" | "symlink" | "recreate";
export const DEPLOY_STYLES: readonly DeployStyle[] = ["in-place", "rename", "symlink", "recreate"];
const STYLE_NAMES: Record<DeployStyle, string> = {
  "in-place": "in-place write (`printf v2 > VERSION`)",
  rename: "write-then-rename",
  symlink: "symlink swap (`current` → `releases/vN`, renamed over)",
  recreate: "delete + recreate",
};

/** The watched path for `style`: symlink swaps watch `current/VERSION`. */
function watchedPath(sv: { dir: string }, style: DeployStyle): string {
  return style === "symlink" ? `${sv.dir}/current/VERSION` : versionPath(sv);
}

/** Lands `content` the way `style` does; returns CLOCK_REALTIME just before the landing step. */
async function deploy(
  sv: { dir: string },
  style: DeployStyle,
  content: string,
  version: number,
  clock: RealtimeClock,
): Promise<number> {
  const path = versionPath(sv);
  if (style === "rename") return await deployVersion(path, content, clock);
  if (style === "symlink") {
    const release = `releases/v${version}`;
    await Deno.mkdir(`${sv.dir}/${release}`, { recursive: true });
    await Deno.writeTextFile(`${sv.dir}/${release}/VERSION`, content);
    await Deno.symlink(release, `${sv.dir}/current.tmp`);
    clock.calibrate();
    const at = clock.now();
    await Deno.rename(`${sv.dir}/current.tmp`, `${sv.dir}/current`);
    return at;
  }
  clock.calibrate();
  const at = clock.now();
  if (style === "recreate") await Deno.remove(path);
  await Deno.writeTextFile(path, content);
  return at;
}

export async function benchOverhead(options: BenchOptions): Promise<Section> {
  const results: StyleResult[] = [];
  for (const style of DEPLOY_STYLES) results.push(await benchStyle(style, options));
  return report(results);
}

interface StyleResult {
  style: DeployStyle;
  samples: Sample[];
  /** Direct restarts, timed by the same observer as releasemon's. */
  direct: number[];
  /** The same direct restarts, timed by their own two answers. */
  directCalls: number[];
  pollRoundTrips: number[];
}

async function benchStyle(style: DeployStyle, options: BenchOptions): Promise<StyleResult> {
  const pairs = options.quick ? 4 : 20;
  const { signal } = options;
  const clock = new RealtimeClock();
  await using sv = await startBenchSupervisord(
    {
      files: { [VERSION_FILE]: "v0\n", "releases/v0/VERSION": "v0\n" },
      programs: [{ name: TARGET, command: "sleep 3600" }],
    },
    (sv) => {
      if (style === "symlink") Deno.symlinkSync("releases/v0", `${sv.dir}/current`);
      return [releasemonFor(sv, [watchedPath(sv, style), TARGET])];
    },
  );
  await waitUntilWatching(sv, signal);
  const client = sv.benchClient();
  const log = new LogTail(`${sv.dir}/releasemon.log`);
  await log.skipToEnd();
  const releasemon: Sample[] = [];
  const direct: number[] = [];
  const directCalls: number[] = [];
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
    const landedAt = await deploy(sv, style, `v${version}\n`, version, clock);
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
    const before = await client.getProcessInfo(namespec);
    clock.calibrate();
    const started = clock.now();
    const calls = (async () => {
      await client.stopProcess(namespec, true);
      await client.startProcess(namespec, true);
      return clock.now() - started;
    })();
    // The same observer as releasemon's runs, running alongside the calls.
    const seenAt = await pollUntil(
      `${TARGET} to run a new pid`,
      (info) => info.state === "RUNNING" && info.pid !== before.pid,
    );
    directCalls.push(await calls);
    return seenAt - started;
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
      `  overhead ${style} ${i + 1}/${pairs}: releasemon ${
        fixed(releasemon.at(-1)!.totalMs)
      } ms, direct ${fixed(direct.at(-1)!)} ms`,
    );
  }
  return { style, samples: releasemon, direct, directCalls, pollRoundTrips };
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

function styleStats({ style, samples, direct, directCalls, pollRoundTrips }: StyleResult) {
  const releasemon = samples.map((s) => s.totalMs);
  const r = stats(releasemon);
  const d = stats(direct);
  // The pairs share their moment's machine load; their differences cancel drift between rounds.
  const paired = stats(pairedDifferences(releasemon, direct));
  return {
    style,
    r,
    d,
    calls: stats(directCalls),
    paired,
    planned: stats(samples.map((s) => s.plannedMs)),
    rollout: stats(samples.map((s) => s.rolloutMs)),
    poll: stats(pollRoundTrips),
    overheadMs: paired.median,
    medianDifferenceMs: r.median - d.median,
  };
}

function report(results: StyleResult[]): Section {
  const all = results.map(styleStats);
  const poll = stats(results.flatMap((x) => x.pollRoundTrips));
  const cell = (s: ReturnType<typeof stats>) => `${fixed(s.median)} (${fixed(s.p95)})`;
  return {
    id: "overhead",
    title: "2. Restart overhead (version lands → new pid RUNNING, vs a direct restart)",
    method: [
      `Per deploy style, ${all[0]?.r.n ?? 0} rounds on a supervisord of its own with one ` +
      "`sleep 3600` program (startsecs=0) and releasemon at its defaults; each round " +
      "is a releasemon restart and a direct restart, in alternating order (R D, D R, …), each " +
      `${REST_MS} ms after the previous start's program exec'd \`sleep\` (/proc/<pid>/comm). ` +
      "The overhead is the median of the per-round differences (releasemon − direct): both " +
      "runs of a round meet the same machine load, so slow drift cancels; the difference of " +
      "the two medians is shown too.",
      "Deploy styles, each timed from just before its landing step: in-place (open with " +
      "truncate, write, close: `printf v2 > VERSION`); write-then-rename (the rename); symlink " +
      "swap (releasemon watches `current/VERSION`; the bench writes `releases/vN/VERSION`, " +
      "makes a new symlink and renames it over `current`; the rename); delete + recreate " +
      "(remove, then a new file written).",
      "Both runs of a round end when the bench's own tight getProcessInfo poll (back to back, " +
      "no sleep), running during the whole run, first shows a new pid RUNNING: one observer for " +
      "both, whose load on supervisord and lateness hit both alike. releasemon's next run waits " +
      'for its "applied" line. Direct (the floor): the bench calls stopProcess(wait=true) then ' +
      "startProcess(wait=true), timed from just before the first call; with startsecs=0, " +
      "supervisord makes the program RUNNING inside startProcess itself, so the floor is two " +
      "round trips plus the stop and the fork, with no deferred wait. The direct calls' own " +
      "time (until the second answer) is shown too.",
      `The bench's poll round trip (median ${fixed(poll.median, 2)} ms, p95 ${
        fixed(poll.p95, 2)
      } ms) bounds how late it sees the new pid. Split of releasemon's runs from its info log ` +
      '(ms): land → "Restarting" line (notice, settle, read, plan) and the rollout time its ' +
      '"applied … in N ms" line reports (stop, start, polls).',
    ],
    tables: [{
      headers: [
        "deploy style",
        "rounds",
        "releasemon median (p95) ms",
        "direct median (p95) ms",
        "direct, its calls' own time, median ms",
        "**overhead, paired median (p95) ms**",
        "median(releasemon) − median(direct) ms",
        'land → "Restarting" median ms',
        "rollout (its log) median ms",
      ],
      rows: all.map((x) => [
        STYLE_NAMES[x.style],
        String(x.r.n),
        cell(x.r),
        cell(x.d),
        fixed(x.calls.median),
        cell(x.paired),
        fixed(x.medianDifferenceMs),
        fixed(x.planned.median),
        fixed(x.rollout.median),
      ]),
    }],
    goals: all.map((x) => ({
      name: `restart overhead, ${x.style}`,
      target: "≤ 20 ms median",
      measured: `${fixed(x.overheadMs)} ms (median of paired differences; difference of ` +
        `medians ${fixed(x.medianDifferenceMs)} ms)`,
      pass: x.overheadMs <= 20,
    })),
    notes: [],
    data: { styles: results, stats: all, poll },
  };
}
