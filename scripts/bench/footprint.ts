/**
 * Footprint: releasemon's idle RSS and CPU, and its RSS after many restarts against after the
 * first 10 (a leak shows as growth). releasemon runs as `deno task install` installs it: the bundle
 * (`scripts/bundle.ts`) under `deno run --no-config --cached-only` and the binary's permissions,
 * started once before (the installer's `--version`), so Deno's caches for it are written.
 *
 * The idle window runs while the other benchmarks run (`during`): an idle process's CPU time is
 * its own whatever else the machine does, and sharing the window keeps the whole run bounded.
 * Numbers come from /proc/<pid> of the deno process supervisord started (the command is the deno
 * binary itself, no shell in between; checked against /proc/<pid>/cmdline).
 *
 * @module
 */
import type { BenchOptions, Section } from "./section.ts";
import {
  fixed,
  LogTail,
  RealtimeClock,
  sleep,
  until,
  VERSION_FILE,
  versionPath,
  waitExeced,
} from "./support.ts";
import { startBenchSupervisord, waitUntilWatching } from "./supervisord.ts";
import { fileURLToPath } from "node:url";
import { bundleMain } from "../bundle.ts";
import { permissionFlags } from "../permissions.ts";
import { quoteArg } from "../../tests/support/releasemon.ts";

const TARGET = "app";
/** The floor's program: an idle `deno run` holding one `Deno.watchFs` (idle_floor.ts). */
const FLOOR = "floor";
const FLOOR_SCRIPT = fileURLToPath(new URL("./idle_floor.ts", import.meta.url));
/** The second floor: the same, plus the runtime APIs releasemon uses (idle_api_floor.ts). */
const API_FLOOR = "apifloor";
const API_FLOOR_SCRIPT = fileURLToPath(new URL("./idle_api_floor.ts", import.meta.url));

/** The bundle, in a temp dir of its own, started once (as the installer does) to write caches. */
async function installedBundle(): Promise<AsyncDisposable & { main: string }> {
  const dir = await Deno.makeTempDir({ prefix: "rmbench-bundle-" });
  const dispose = () => Deno.remove(dir, { recursive: true });
  try {
    await bundleMain(dir);
    const first = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--cached-only",
        ...permissionFlags(),
        `${dir}/main.js`,
        "--version",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!first.success) throw new Error(new TextDecoder().decode(first.stderr));
  } catch (error) {
    await dispose();
    throw error;
  }
  return { main: `${dir}/main.js`, [Symbol.asyncDispose]: dispose };
}

/** What /proc says about one process. */
export interface ProcSample {
  rssKiB: number;
  /** Anonymous memory (heaps) and file-backed pages (the deno binary's code) of the RSS. */
  anonKiB: number;
  fileKiB: number;
  hwmKiB: number;
  cpuTicks: number;
}

export async function readProc(pid: number): Promise<ProcSample> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (field: string) =>
    Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1]);
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rssKiB: kib("VmRSS"),
    anonKiB: kib("RssAnon"),
    fileKiB: kib("RssFile"),
    hwmKiB: kib("VmHWM"),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

/** Clock ticks per second for /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux). */
async function clockTicks(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).output();
    const ticks = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

export async function benchFootprint(
  options: BenchOptions,
  during: () => Promise<void>,
): Promise<Section> {
  const idleSeconds = options.quick ? 10 : 60;
  const restarts = options.quick ? 100 : 1000;
  // Quiet time before each RSS reading, so that no reading lands inside a restart.
  const quietMs = options.quick ? 1_000 : 2_000;
  const { signal } = options;
  const ticksPerSecond = await clockTicks();
  await using bundle = await installedBundle();
  await using sv = await startBenchSupervisord(
    {
      files: { [VERSION_FILE]: "v0\n", "floor/.keep": "", [`${API_FLOOR}/.keep`]: "" },
      // stopwaitsecs=1 bounds the cost of a SIGTERM lost to a not-yet-exec'd child.
      programs: [{ name: TARGET, command: "sleep 3600", options: { stopwaitsecs: 1 } }],
    },
    // --settle 0.05: back-to-back versions closer than the settle time (200 ms by default) are
    // a burst and wait it out; 50 ms keeps each of them a lone write, so that 1,000 restarts fit
    // the time bound. Same code path, a shorter timer.
    (sv) => [
      {
        name: "releasemon",
        command: [
          Deno.execPath(),
          "run",
          "--no-config",
          "--cached-only",
          ...permissionFlags({ sockets: [sv.socketPath] }),
          bundle.main,
          versionPath(sv),
          TARGET,
          "--settle",
          "0.05",
          "--log-level",
          "info",
          "--no-catch-up",
        ].map(quoteArg).join(" "),
        options: {
          startsecs: 0,
          redirect_stderr: true,
          stdout_logfile: `${sv.dir}/releasemon.log`,
          environment: "NO_COLOR=1",
        },
      },
      {
        name: API_FLOOR,
        command: [
          Deno.execPath(),
          "run",
          "--no-config",
          "--no-prompt",
          `--allow-read=${sv.dir}/${API_FLOOR}`,
          `--allow-write=${sv.dir}/${API_FLOOR}`,
          `--allow-net=unix:${sv.dir}/${API_FLOOR}/.no-such-socket`,
          "--allow-env=NO_COLOR",
          API_FLOOR_SCRIPT,
          `${sv.dir}/${API_FLOOR}`,
        ].join(" "),
        options: { startsecs: 0, redirect_stderr: true, stdout_logfile: `${sv.dir}/apifloor.log` },
      },
      {
        name: FLOOR,
        // Plain `deno run`, no V8 flags: the runtime's own floor. Watches a directory of its
        // own, so the restarts below do not wake it.
        command: [
          Deno.execPath(),
          "run",
          "--no-config",
          "--no-prompt",
          `--allow-read=${sv.dir}`,
          FLOOR_SCRIPT,
          sv.dir + "/floor",
        ].join(" "),
        options: { startsecs: 0, redirect_stderr: true, stdout_logfile: `${sv.dir}/floor.log` },
      },
    ],
  );
  await waitUntilWatching(sv, signal);
  const client = sv.benchClient();
  const pid = (await client.getProcessInfo("releasemon:releasemon")).pid;
  const cmdline = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
  if (!cmdline.includes(bundle.main)) {
    throw new Error(`Cannot measure releasemon: pid ${pid} runs ${cmdline.join(" ")}`);
  }

  const floorPid = (await client.getProcessInfo(`${FLOOR}:${FLOOR}`)).pid;
  const apiFloorPid = (await client.getProcessInfo(`${API_FLOOR}:${API_FLOOR}`)).pid;

  // Idle: a settled start, then a window of doing nothing while the other benchmarks run.
  await sleep(quietMs, signal);
  const idleStart = await readProc(pid);
  const floor = await readProc(floorPid);
  const apiFloor = await readProc(apiFloorPid);
  const idleStartedAt = performance.now();
  // A failure of the other benchmarks ends the idle window at once.
  const window = new AbortController();
  const stopWindow = () => window.abort(signal.reason);
  signal.addEventListener("abort", stopWindow, { once: true });
  const idleWindow = (async () => {
    await sleep(idleSeconds * 1000, window.signal);
    return { end: await readProc(pid), seconds: (performance.now() - idleStartedAt) / 1000 };
  })();
  const others = during().catch((error) => {
    window.abort(error);
    throw error;
  });
  // Let both finish (and fail) before the supervisord is torn down.
  const [idle, duringOutcome] = await Promise.allSettled([idleWindow, others]);
  signal.removeEventListener("abort", stopWindow);
  if (duringOutcome.status === "rejected") throw duringOutcome.reason;
  if (idle.status === "rejected") throw idle.reason;
  const idleEnd = idle.value.end;
  const idleCpuSeconds = (idleEnd.cpuTicks - idleStart.cpuTicks) / ticksPerSecond;
  const idleCpuPercent = (idleCpuSeconds / idle.value.seconds) * 100;
  options.progress(
    `  footprint idle: RSS ${fixed(idleStart.rssKiB / 1024)} MiB (floor ${
      fixed(floor.rssKiB / 1024)
    } MiB), CPU ${fixed(idleCpuSeconds, 2)} s in ${fixed(idle.value.seconds)} s`,
  );

  // Restarts: each waits for the one before to be applied and for the new program to have exec'd.
  const clock = new RealtimeClock();
  const log = new LogTail(`${sv.dir}/releasemon.log`);
  await log.skipToEnd();
  const trend: { restarts: number; rssKiB: number; anonKiB: number; fileKiB: number }[] = [];
  const rolloutMs: number[] = [];
  let after10: ProcSample | null = null;
  const started = clock.now();
  for (let i = 1; i <= restarts; i++) {
    const tmp = `${versionPath(sv)}.tmp`;
    await Deno.writeTextFile(tmp, `v${i}\n`);
    await Deno.rename(tmp, versionPath(sv));
    const lines: string[] = [];
    const applied = await until(`releasemon to apply v${i}`, async () => {
      lines.push(...await log.lines());
      return lines.find((line) => line.includes(`Version "v${i}" applied: 1 restarted`));
    }, { intervalMs: 2, signal });
    rolloutMs.push(Number(applied.match(/ in (\d+) ms/)?.[1] ?? Number.NaN));
    const newPid = Number(lines.find((l) => l.includes("Restarted "))?.match(/→ (\d+)\)/)?.[1]);
    await waitExeced([newPid], "sleep", signal);
    if (i === 10) {
      await sleep(quietMs, signal);
      after10 = await readProc(pid);
      trend.push({ restarts: i, ...after10 });
    } else if (i % (restarts / 10) === 0 && i !== restarts) {
      trend.push({ restarts: i, ...await readProc(pid) });
    }
    if (i % (restarts / 10) === 0) options.progress(`  footprint restarts ${i}/${restarts}`);
  }
  const restartSeconds = (clock.now() - started) / 1000;
  await sleep(quietMs, signal);
  const end = await readProc(pid);
  trend.push({ restarts, ...end });
  return report({
    pid,
    idleSeconds: idle.value.seconds,
    idleStart,
    idleEnd,
    floor,
    apiFloor,
    idleCpuSeconds,
    idleCpuPercent,
    ticksPerSecond,
    restarts,
    restartSeconds,
    quietMs,
    after10: after10!,
    end,
    trend,
    rolloutMs,
  });
}

interface FootprintData {
  pid: number;
  idleSeconds: number;
  idleStart: ProcSample;
  idleEnd: ProcSample;
  /** The idle `deno run` holding one Deno.watchFs, read with idleStart. */
  floor: ProcSample;
  /** The same, plus the runtime APIs releasemon uses, read with idleStart. */
  apiFloor: ProcSample;
  idleCpuSeconds: number;
  idleCpuPercent: number;
  ticksPerSecond: number;
  restarts: number;
  restartSeconds: number;
  quietMs: number;
  after10: ProcSample;
  end: ProcSample;
  trend: { restarts: number; rssKiB: number; anonKiB: number; fileKiB: number }[];
  rolloutMs: number[];
}

function report(data: FootprintData): Section {
  const mib = (kib: number) => kib / 1024;
  const idleRssMiB = mib(data.idleStart.rssKiB);
  const floorMiB = mib(data.floor.rssKiB);
  const idleRatio = idleRssMiB / floorMiB;
  const growth = (data.end.rssKiB - data.after10.rssKiB) / data.after10.rssKiB * 100;
  const slow = data.rolloutMs.filter((ms) => ms >= 900).length;
  const resolution = 100 / data.ticksPerSecond / data.idleSeconds;
  const half = data.trend[Math.floor((data.trend.length - 1) / 2)]!;
  const firstHalfMiB = mib(half.rssKiB - data.after10.rssKiB);
  const secondHalfMiB = mib(data.end.rssKiB - half.rssKiB);
  return {
    id: "footprint",
    title: "4. Footprint (idle RSS and CPU; RSS after many restarts)",
    method: [
      `releasemon's own process (pid ${data.pid}, the deno binary supervisord started: checked in ` +
      "/proc/<pid>/cmdline). RSS is VmRSS from /proc/<pid>/status; CPU is utime+stime from " +
      `/proc/<pid>/stat at ${data.ticksPerSecond} ticks/s, so over ${fixed(data.idleSeconds)} s ` +
      `one tick is ${fixed(resolution, 3)}% of a core.`,
      `Idle: ${data.quietMs / 1000} s after it logged "Watching", over a ${
        fixed(data.idleSeconds)
      } s window that ran while benchmarks 1–3 ran on their own supervisords (an idle ` +
      "process's CPU time is its own, whatever else the machine does).",
      "releasemon as `deno task install` installs it: the bundle of main.ts (scripts/bundle.ts) " +
      "under `deno run --no-config --cached-only` with the binary's permissions and V8 flags, " +
      "started once before with `--version` (as the installer does), so that Deno's caches " +
      "for it are written.",
      "Floor: on the same supervisord, a plain `deno run --no-config` (no V8 flags) of " +
      "scripts/bench/idle_floor.ts, which only holds one Deno.watchFs; read together with " +
      "releasemon's idle RSS. Second floor, for context: scripts/bench/idle_api_floor.ts, the " +
      "same plus one use of each runtime API releasemon has used by the time it idles (a " +
      "signal listener, a timer, stat/open/read, a unix-socket connect, env, random bytes, an " +
      "ISO date, text decoding, a stderr write).",
      `Restarts: ${data.restarts} versions (releasemon with \`--settle 0.05\`, so that writes ` +
      "closer than the default 200 ms are not held as a burst: the same code path with a shorter " +
      "timer), one after another, each written once the previous " +
      "one's \"applied\" line is logged and the restarted program has exec'd `sleep` " +
      "(/proc/<pid>/comm), so no SIGTERM can meet a not-yet-exec'd child. RSS after the 10th " +
      `and after the last, each after ${data.quietMs / 1000} s of quiet.`,
    ],
    tables: [
      {
        headers: ["measure", "value"],
        rows: [
          [
            "idle RSS (VmRSS)",
            `${fixed(idleRssMiB)} MiB: ${fixed(mib(data.idleStart.anonKiB))} anonymous (heaps), ` +
            `${fixed(mib(data.idleStart.fileKiB))} file-backed (the deno binary's pages)`,
          ],
          [
            "floor: idle `deno run` holding one Deno.watchFs (scripts/bench/idle_floor.ts)",
            `${fixed(floorMiB)} MiB: ${fixed(mib(data.floor.anonKiB))} anonymous, ` +
            `${fixed(mib(data.floor.fileKiB))} file-backed`,
          ],
          [
            "second floor: the same plus the runtime APIs releasemon uses (idle_api_floor.ts)",
            `${fixed(mib(data.apiFloor.rssKiB))} MiB: ${fixed(mib(data.apiFloor.anonKiB))} ` +
            `anonymous, ${fixed(mib(data.apiFloor.fileKiB))} file-backed; releasemon is ${
              fixed(idleRssMiB / mib(data.apiFloor.rssKiB), 2)
            }× this`,
          ],
          ["idle RSS at the end of the window", `${fixed(mib(data.idleEnd.rssKiB))} MiB`],
          [
            `idle CPU over ${fixed(data.idleSeconds)} s`,
            `${fixed(data.idleCpuSeconds, 2)} s = ${fixed(data.idleCpuPercent, 3)}% of one core`,
          ],
          ["RSS after 10 restarts", `${fixed(mib(data.after10.rssKiB))} MiB`],
          [
            `RSS after ${data.restarts} restarts`,
            `${fixed(mib(data.end.rssKiB))} MiB (${growth >= 0 ? "+" : ""}${fixed(growth)}%)`,
          ],
          ["peak RSS (VmHWM) at the end", `${fixed(mib(data.end.hwmKiB))} MiB`],
          [
            `${data.restarts} restarts took`,
            `${fixed(data.restartSeconds)} s (${slow} rollout(s) ≥ 900 ms)`,
          ],
        ],
      },
      {
        headers: ["restarts done", ...data.trend.map((t) => String(t.restarts))],
        rows: [
          ["RSS MiB", ...data.trend.map((t) => fixed(mib(t.rssKiB)))],
          ["of which anonymous (heaps)", ...data.trend.map((t) => fixed(mib(t.anonKiB)))],
          ["of which file-backed (binary)", ...data.trend.map((t) => fixed(mib(t.fileKiB)))],
        ],
      },
    ],
    goals: [
      {
        name: "idle CPU ≈ 0",
        target: "≤ 0.5% of one core",
        measured: `${fixed(data.idleCpuPercent, 3)}%`,
        pass: data.idleCpuPercent <= 0.5,
      },
      {
        name: "idle RSS",
        target: "≤ 1.2× the runtime's floor (an idle `deno run` holding one Deno.watchFs)",
        measured: `${fixed(idleRatio, 2)}× (${fixed(idleRssMiB)} MiB against ${
          fixed(floorMiB)
        } MiB)`,
        pass: idleRatio <= 1.2,
      },
      {
        name: `RSS growth after ${data.restarts} restarts`,
        target: "≤ 5% over RSS after 10",
        measured: `${growth >= 0 ? "+" : ""}${fixed(growth)}%`,
        pass: growth <= 5,
      },
    ],
    notes: [
      `RSS rose ${fixed(firstHalfMiB)} MiB from restart 10 to ${half.restarts} and ` +
      `${fixed(secondHalfMiB)} MiB from ${half.restarts} to ${data.restarts}. RSS also counts ` +
      "garbage V8 has not collected yet and heap it keeps committed (the anonymous row), and " +
      "pages of the deno binary first touched by a restart (the file-backed row): the growth " +
      "is an upper bound on a leak, not proof of one.",
    ],
    data: { ...data },
  };
}
