/**
 * Fan-out: one group of N trivial programs; version lands → all N run new pids, against a
 * direct `stopProcessGroup` + `startProcessGroup` (wait=true) on the same supervisord.
 *
 * The end point of both is read from supervisord's own log: the last of the N lines "success:
 * pK entered RUNNING state" (written the moment each program becomes RUNNING; ms). Watching
 * the log costs supervisord nothing, where a bench polling getAllProcessInfo for 200 programs
 * would compete with releasemon's own polls for supervisord's single thread.
 *
 * @module
 */
import type { BenchOptions, Section } from "./section.ts";
import {
  deployVersion,
  fixed,
  LogTail,
  RealtimeClock,
  sleep,
  stats,
  supervisordLogTime,
  until,
  VERSION_FILE,
  versionPath,
  waitExeced,
} from "./support.ts";
import {
  type BenchSupervisord,
  releasemonFor,
  startBenchSupervisord,
  waitUntilWatching,
} from "./supervisord.ts";
import { STOPPED_STATES } from "../../lib/supervisor/states.ts";

const GROUP = "g";
/** The group sizes the issue sets a goal for. */
const GOAL_SIZES = [40, 200];

interface ReleasemonRun {
  /** Version landed → last program RUNNING (supervisord's log). */
  totalMs: number;
  /** releasemon's own "applied … in N ms"; NaN when it had not said so in time. */
  rolloutMs: number;
  /** releasemon had not logged "applied" {@link APPLIED_GRACE_MS} after all N were RUNNING. */
  stuck: boolean;
}

interface DirectRun {
  /** First call made → last program RUNNING (supervisord's log). */
  totalMs: number;
  /** First call made → startProcessGroup answered. */
  callMs: number;
}

interface SizeResult {
  n: number;
  releasemon: ReleasemonRun[];
  /** stopProcessGroup(wait=true) + startProcessGroup(wait=true): the floor the issue names. */
  direct: DirectRun[];
  /** stopProcessGroup(wait=false), poll until all stopped, startProcessGroup(wait=true). */
  polled: DirectRun[];
}

type Kind = "releasemon" | "direct" | "polled";
/**
 * How long after all N programs run releasemon gets to log "applied" before the bench calls it
 * stuck, records that, and restarts it (so that its polling does not load the next runs).
 */
const APPLIED_GRACE_MS = 30_000;
/** One round; every other round runs in reverse, so that drift hits every kind alike. */
const ORDER: readonly Kind[] = ["releasemon", "direct", "polled"];

export async function benchFanout(options: BenchOptions): Promise<Section> {
  // Rounds per N: a restart of N programs costs N forks of supervisord, tens of ms each on a
  // slow-forking machine, so large N get fewer rounds to keep the run bounded.
  const modePlan: [number, number][] = options.quick
    ? [[1, 2], [10, 2], [40, 1]]
    : [[1, 5], [10, 5], [40, 3], [200, 2]];
  const plan: [number, number][] = options.fanoutSizes
    ? options.fanoutSizes.map((n) => [n, modePlan.find(([size]) => size === n)?.[1] ?? 2])
    : modePlan;
  const restMs = options.quick ? 300 : 1000;
  const results: SizeResult[] = [];
  for (const [n, rounds] of plan) {
    const result = await benchSize(n, rounds, restMs, options);
    results.push(result);
    const median = (runs: { totalMs: number }[]) => stats(runs.map((x) => x.totalMs)).median;
    const [r, d, p] = [median(result.releasemon), median(result.direct), median(result.polled)];
    options.progress(
      `  fan-out N=${n}: releasemon ${fixed(r)} ms, direct ${fixed(d)} ms (×${
        fixed(r / d, 2)
      }), direct polled ${fixed(p)} ms (×${fixed(r / p, 2)})`,
    );
  }
  return report(results, restMs);
}

async function benchSize(
  n: number,
  rounds: number,
  restMs: number,
  options: BenchOptions,
): Promise<SizeResult> {
  const { signal } = options;
  const clock = new RealtimeClock();
  const names = Array.from({ length: n }, (_, i) => `p${i}`);
  await using sv = await startBenchSupervisord(
    {
      files: { [VERSION_FILE]: "v0\n" },
      // Started by the bench once supervisord answers: 200 spawns at start-up can outlast the
      // helper's 20 s readiness deadline on a loaded machine.
      programs: names.map((name) => ({
        name,
        command: "sleep 3600",
        options: { autostart: false },
      })),
      groups: { [GROUP]: names },
      // Each program holds three pipes and two log files open in supervisord; keep the default
      // (1024) where it suffices: every spawned child closes every fd below minfds.
      extraConfig: n > 100 ? "[supervisord]\nminfds=4096\n" : "",
    },
    (sv) => [releasemonFor(sv, [versionPath(sv), "-g", GROUP])],
  );
  const supervisordLog = new LogTail(`${sv.dir}/supervisord.log`);
  const releasemonLog = new LogTail(`${sv.dir}/releasemon.log`);
  const client = sv.benchClient();
  await client.startProcessGroup(GROUP, true);
  await waitUntilWatching(sv, signal);
  await until(`all ${n} programs RUNNING`, async () => {
    const infos = await client.getAllProcessInfo();
    return infos.filter((i) => i.state === "RUNNING").length === n + 1 || undefined;
  }, { intervalMs: 50, signal });
  let version = 0;
  const result: SizeResult = { n, releasemon: [], direct: [], polled: [] };

  const viaReleasemon = async () => {
    version++;
    const landedAt = await deployVersion(versionPath(sv), `v${version}\n`, clock);
    const lastRunningAt = await lastRunning(supervisordLog, n, signal);
    const applied = await until(`releasemon to apply v${version} to ${n} programs`, async () => {
      return (await releasemonLog.lines()).find((l) => l.includes(`"v${version}" applied`));
    }, { intervalMs: 10, signal, timeoutMs: APPLIED_GRACE_MS }).catch(() => null);
    const rolloutMs = Number(applied?.match(/ in (\d+) ms/)?.[1] ?? Number.NaN);
    result.releasemon.push({ totalMs: lastRunningAt - landedAt, rolloutMs, stuck: !applied });
    if (!applied) {
      options.progress(
        `  fan-out N=${n}: all ${n} RUNNING, but releasemon had not logged "applied" ` +
          `${APPLIED_GRACE_MS / 1000} s later; restarting it`,
      );
      const watching = (await Deno.readTextFile(`${sv.dir}/releasemon.log`)).split("[run] Watching")
        .length;
      await client.stopProcess("releasemon:releasemon", true);
      await client.startProcess("releasemon:releasemon", true);
      await until("the restarted releasemon to watch", async () => {
        const text = await Deno.readTextFile(`${sv.dir}/releasemon.log`);
        return text.split("[run] Watching").length > watching || undefined;
      }, { intervalMs: 50, signal, timeoutMs: 60_000 });
    }
  };
  const viaDirect = async (wait: boolean) => {
    const started = clock.now();
    await client.stopProcessGroup(GROUP, wait);
    if (!wait) {
      // Like releasemon's poller: every 5 ms until no program of the group is stopping.
      await until(`group ${GROUP} to stop`, async () => {
        const infos = await client.getAllProcessInfo();
        const group = infos.filter((i) => i.group === GROUP);
        return group.every((i) => STOPPED_STATES.includes(i.state)) || undefined;
      }, { intervalMs: 5, signal, timeoutMs: 120_000 });
    }
    await client.startProcessGroup(GROUP, true);
    const callMs = clock.now() - started;
    const run = { totalMs: await lastRunning(supervisordLog, n, signal) - started, callMs };
    (wait ? result.direct : result.polled).push(run);
  };

  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? ORDER : [...ORDER].reverse()) {
      const infos = await client.getAllProcessInfo();
      const pids = infos.filter((info) => info.group === GROUP).map((info) => info.pid);
      await waitExeced(pids, "sleep", signal);
      await sleep(restMs, signal);
      await supervisordLog.skipToEnd();
      await releasemonLog.skipToEnd();
      if (kind === "releasemon") await viaReleasemon();
      else await viaDirect(kind === "direct");
    }
  }
  await assertAllRunning(sv, n);
  return result;
}

/** Waits for N "entered RUNNING state" lines; returns the last one's time (+0.5: ms truncated). */
async function lastRunning(tail: LogTail, n: number, signal: AbortSignal): Promise<number> {
  const times: number[] = [];
  await until(`${n} programs to enter RUNNING`, async () => {
    for (const line of await tail.lines()) {
      if (/ success: p\d+ entered RUNNING state/.test(line)) times.push(supervisordLogTime(line));
    }
    return times.length >= n || undefined;
  }, { intervalMs: 5, signal, timeoutMs: 120_000 });
  return Math.max(...times) + 0.5;
}

async function assertAllRunning(sv: BenchSupervisord, n: number): Promise<void> {
  const infos = await sv.benchClient().getAllProcessInfo();
  const running = infos.filter((i) => i.group === GROUP && i.state === "RUNNING").length;
  if (running !== n) throw new Error(`Cannot trust fan-out N=${n}: ${running} RUNNING at the end`);
}

function report(results: SizeResult[], restMs: number): Section {
  const rows = results.map(({ n, releasemon, direct, polled }) => {
    const r = stats(releasemon.map((x) => x.totalMs));
    const d = stats(direct.map((x) => x.totalMs));
    const p = stats(polled.map((x) => x.totalMs));
    const call = stats(direct.map((x) => x.callMs));
    const rollout = stats(releasemon.map((x) => x.rolloutMs).filter(Number.isFinite));
    const stuck = releasemon.filter((x) => x.stuck).length;
    return {
      n,
      r,
      d,
      p,
      call,
      rollout,
      ratio: r.median / d.median,
      ratioPolled: r.median / p.median,
      stuck,
    };
  });
  const cell = (s: ReturnType<typeof stats>) => `${fixed(s.median)} (${fixed(s.p95)})`;
  // The goals are for N=40 and N=200; quick mode stops at 40.
  const goalRows = rows.filter((x) => GOAL_SIZES.includes(x.n));
  return {
    id: "fanout",
    title: "3. Fan-out (one group of N programs: version lands → all N new pids RUNNING)",
    method: [
      `For each N, a supervisord of its own with one group of N \`sleep 3600\` programs ` +
      `(startsecs=0; minfds=4096 for N > 100) and releasemon \`-g ${GROUP}\`. Each round runs ` +
      "the three kinds below once, in reverse order every other round; each run starts " +
      `${restMs} ms after every program of the previous one exec'd \`sleep\` (/proc/<pid>/comm; ` +
      "supervisord loses a SIGTERM sent to a child that has not exec'd yet).",
      'End point of all three: the last of the N "success: pK entered RUNNING state" lines in ' +
      "supervisord's log (ms; written the moment each program turns RUNNING; reading the log " +
      "costs supervisord nothing, where polling 200 programs would compete with releasemon's " +
      "own polls). releasemon starts at the rename of the version file; the direct kinds at " +
      "the bench's first call. Direct (the issue's floor): stopProcessGroup(wait=true), then " +
      "startProcessGroup(wait=true); its answer time is shown too.",
      "supervisord answers a deferred call (the group stop) only when its main loop re-checks " +
      "it: at most every 50 ms (`killall.delay = 0.05`, supervisor/rpcinterface.py) and only " +
      "when the loop wakes, which an idle supervisord does once a second (`timeout = 1` in " +
      "supervisord.py's runforever; Python retries poll() after SIGCHLD). So the direct group " +
      "restart carries a wait of 50 ms to 1 s that has nothing to do with the programs. Hence " +
      "a third kind, the floor a client can reach: stopProcessGroup(wait=false), " +
      "getAllProcessInfo every 5 ms until all are stopped, startProcessGroup(wait=true) (with " +
      "startsecs=0 it answers once all are spawned and RUNNING).",
    ],
    tables: [{
      headers: [
        "N",
        "rounds",
        "releasemon median (p95) ms",
        "direct median (p95) ms",
        "**ratio releasemon/direct**",
        "direct, polled median (p95) ms",
        "ratio releasemon/polled",
        "direct call answered, median ms",
        "releasemon rollout (its log), median ms",
        'releasemon runs without "applied"',
        "releasemon ms per program",
      ],
      rows: rows.map((x) => [
        String(x.n),
        String(x.r.n),
        cell(x.r),
        cell(x.d),
        `${fixed(x.ratio, 2)}×`,
        cell(x.p),
        `${fixed(x.ratioPolled, 2)}×`,
        fixed(x.call.median),
        fixed(x.rollout.median),
        String(x.stuck),
        fixed(x.r.median / x.n, 2),
      ]),
    }],
    goals: goalRows.map((x) => ({
      name: `fan-out at N=${x.n}`,
      target: "≤ 1.2× the direct group restart",
      measured: `${fixed(x.ratio, 2)}× (against the polled floor: ${fixed(x.ratioPolled, 2)}×)`,
      pass: x.ratio <= 1.2,
    })),
    notes: rows.filter((x) => x.stuck > 0).map((x) =>
      `N=${x.n}: in ${x.stuck} of ${x.r.n} releasemon runs all ${x.n} programs ran new pids, ` +
      `but releasemon had not logged "applied" ${APPLIED_GRACE_MS / 1000} s later; the bench ` +
      "restarted it (stopProcess waits out its stopwaitsecs) before the next run. See the " +
      "releasemon log at --log-level debug: a start multicall that outlasts --rpc-timeout."
    ),
    data: { restMs, sizes: results, summary: rows },
  };
}
