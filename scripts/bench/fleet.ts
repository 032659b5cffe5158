/**
 * Fleet rollout time: H simulated hosts (a worker program each, releasemon with `--fleet` and
 * its own version file and `--fleet-id`) against one redis-server; one deploy lands a new version
 * on every host at about the same moment. For each `--fleet-max N` it reports the rollout time
 * (deploy → the last host's worker RUNNING, from supervisord's own log), the ideal
 * `ceil(H / N) × one host's restart time`, and the coordination overhead per host
 * `(rollout − ideal) / H`. One host's restart time is the same setup without `--fleet`: deploy on
 * one host only → its worker RUNNING.
 *
 * Layouts: `separate` (default) gives every host its own supervisord; `shared` runs every host's
 * releasemon as its own `[program]` of ONE supervisord, each targeting its own worker, for
 * machines that cannot run H supervisords. The output names the layout it used.
 *
 * Standalone: `deno run --allow-all scripts/bench/fleet.ts [--quick] [--layout shared]
 * [--json FILE]` prints the Markdown (and writes the JSON).
 *
 * @module
 */
import { supervisordLogTime } from "../../tests/support/supervisord.ts";
import { parseArgs } from "node:util";
import { startRedis } from "../../tests/support/redis.ts";
import { releasemonInstance } from "../../tests/support/releasemon.ts";
import { type ProgramSpec, Supervisord } from "../../tests/support/supervisord.ts";

export type FleetLayout = "separate" | "shared";

export interface FleetBenchOptions {
  /** 6 hosts, N = 1 and 3, fewer repetitions. */
  quick: boolean;
  /** @default "separate" */
  layout?: FleetLayout;
  /** Progress lines. @default stdout */
  progress?: (text: string) => void;
  signal?: AbortSignal;
}

/** The workers' `startsecs`: supervisord's default, and the bulk of one host's restart time. */
const STARTSECS = 1;
/** Same prefix as the other benchmarks' temp dirs, so the runner's leftover check sees ours. */
const TEMP_PREFIX = "rm-bench-fleet-";

interface Host {
  index: number;
  id: string;
  sv: Supervisord;
  /** The worker's program name (its namespec is `<worker>:<worker>`). */
  worker: string;
  versionFile: string;
  /** releasemon's `[program]` name for a variant ("solo" or `n<N>`). */
  instance: (variant: string) => string;
}

/** One rollout: every host's worker stop and RUNNING times (ms since the epoch). */
interface Rollout {
  deployedAt: number;
  hosts: { id: string; stoppedAt: number; runningAt: number }[];
}

interface RolloutSummary {
  rolloutMs: number;
  maxConcurrent: number;
}

export async function benchFleet(
  options: FleetBenchOptions,
): Promise<{ markdown: string; json: unknown }> {
  const layout = options.layout ?? "separate";
  const progress = options.progress ?? _say;
  const signal = options.signal ?? new AbortController().signal;
  const hostCount = options.quick ? 6 : 20;
  const sizes = options.quick ? [1, 3] : [1, 5, 20];
  const soloReps = options.quick ? 3 : 5;
  const rolloutReps = options.quick ? 1 : 2;
  const started = performance.now();

  await using redis = await startRedis();
  const variants = ["solo", ...sizes.map((n) => `n${n}`)];
  // "solo": no --fleet; "n<N>": --fleet-max N, in a fleet group of its own.
  const argsOf = (variant: string, index: number): string[] =>
    variant === "solo" ? [] : [
      ...["--fleet", redis.url, "--fleet-name", `bench-${variant}`],
      ...["--fleet-id", `host${index}`, "--fleet-max", variant.slice(1)],
    ];
  progress(`  fleet: starting ${hostCount} hosts (${layout} layout)`);
  await using hosts = await _startHosts(layout, hostCount, variants, argsOf);
  const all = hosts.hosts;
  let version = 0;
  const next = () => `r${++version}`;

  // One host's restart time: host0 alone, releasemon without --fleet.
  const solo: Rollout[] = [];
  await _withInstances(all.slice(0, 1), "solo", false, signal, async () => {
    for (let rep = 0; rep < soloReps; rep++) {
      solo.push(await _rollout(all.slice(0, 1), next(), signal));
    }
  });
  const oneHostMs = _median(solo.map((r) => _summary(r).rolloutMs));
  const detectMs = _median(solo.map((r) => r.hosts[0]!.stoppedAt - r.deployedAt));
  progress(`  fleet: one host restarts in ${oneHostMs.toFixed(0)} ms (no --fleet)`);

  // Every host at once without --fleet: what N = H would be with free coordination.
  const uncoordinated: Rollout[] = [];
  await _withInstances(all, "solo", false, signal, async () => {
    for (let rep = 0; rep < rolloutReps; rep++) {
      uncoordinated.push(await _rollout(all, next(), signal));
    }
  });

  const results: { n: number; rollouts: Rollout[] }[] = [];
  for (const n of sizes) {
    const rollouts: Rollout[] = [];
    await _withInstances(all, `n${n}`, true, signal, async () => {
      for (let rep = 0; rep < rolloutReps; rep++) {
        rollouts.push(await _rollout(all, next(), signal));
      }
    });
    results.push({ n, rollouts });
    const ms = _median(rollouts.map((r) => _summary(r).rolloutMs));
    progress(`  fleet: --fleet-max ${n}: ${hostCount} hosts in ${(ms / 1000).toFixed(2)} s`);
  }

  const rows = results.map(({ n, rollouts }) => {
    const summaries = rollouts.map(_summary);
    const rolloutMs = _median(summaries.map((s) => s.rolloutMs));
    const rounds = Math.ceil(hostCount / n);
    const idealMs = rounds * oneHostMs;
    return {
      n,
      rounds,
      rolloutMs,
      samplesMs: summaries.map((s) => s.rolloutMs),
      idealMs,
      overheadPerHostMs: (rolloutMs - idealMs) / hostCount,
      maxConcurrent: Math.max(...summaries.map((s) => s.maxConcurrent)),
    };
  });
  const freeMs = _median(uncoordinated.map((r) => _summary(r).rolloutMs));
  const seconds = (performance.now() - started) / 1000;
  const markdown = _markdown({
    layout,
    hostCount,
    oneHostMs,
    detectMs,
    freeMs,
    rows,
    seconds,
    reps: rolloutReps,
  });
  const json = {
    layout,
    hosts: hostCount,
    startsecs: STARTSECS,
    quick: options.quick,
    oneHost: { medianMs: oneHostMs, detectMedianMs: detectMs, rollouts: solo },
    uncoordinated: { medianMs: freeMs, rollouts: uncoordinated },
    sizes: rows.map((row) => ({ ...row, rollouts: results.find((r) => r.n === row.n)!.rollouts })),
    seconds,
  };
  return { markdown, json };
}

/** The hosts of one run; disposing stops every supervisord (in parallel) and removes its dir. */
class Hosts implements AsyncDisposable {
  constructor(readonly hosts: Host[], readonly supervisords: Supervisord[]) {}

  async [Symbol.asyncDispose](): Promise<void> {
    await _disposeAll(this.supervisords);
  }
}

async function _startHosts(
  layout: FleetLayout,
  count: number,
  variants: readonly string[],
  argsOf: (variant: string, index: number) => string[],
): Promise<Hosts> {
  const worker = (name: string): ProgramSpec => ({
    name,
    command: "sleep 86400",
    options: { startsecs: STARTSECS, startretries: 0 },
  });
  const instances = (sv: Supervisord, index: number, versionFile: string, target: string) =>
    variants.map((variant) =>
      releasemonInstance(sv, `rm${index}_${variant}`, [
        ...argsOf(variant, index),
        "--no-catch-up",
        versionFile,
        target,
      ])
    );
  const hostOf = (index: number, sv: Supervisord, worker: string, versionFile: string): Host => ({
    index,
    id: `host${index}`,
    sv,
    worker,
    versionFile,
    instance: (variant) => `rm${index}_${variant}`,
  });
  const indexes = Array.from({ length: count }, (_, i) => i);
  if (layout === "shared") {
    const sv = await _startSupervisord((sv) => [
      ...indexes.map((i) => worker(`w${i}`)),
      ...indexes.flatMap((i) => instances(sv, i, `${sv.dir}/h${i}/VERSION`, `w${i}`)),
    ], Object.fromEntries(indexes.map((i) => [`h${i}/VERSION`, "r0\n"])));
    return new Hosts(indexes.map((i) => hostOf(i, sv, `w${i}`, `${sv.dir}/h${i}/VERSION`)), [sv]);
  }
  const started = await Promise.allSettled(indexes.map((i) =>
    _startSupervisord((sv) => [
      worker("w"),
      ...instances(sv, i, `${sv.dir}/app/VERSION`, "w"),
    ], { "app/VERSION": "r0\n" })
  ));
  const supervisords = started.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const failure = started.find((r) => r.status === "rejected");
  if (failure) {
    await _disposeAll(supervisords);
    throw failure.reason;
  }
  return new Hosts(
    supervisords.map((sv, i) => hostOf(i, sv, "w", `${sv.dir}/app/VERSION`)),
    supervisords,
  );
}

/** A supervisord in a new `/tmp/rm-bench-fleet-*` dir with `programs(sv)`; all RUNNING. */
async function _startSupervisord(
  programs: (sv: Supervisord) => ProgramSpec[],
  files: Record<string, string>,
): Promise<Supervisord> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: TEMP_PREFIX });
  const sv = new Supervisord(dir, null, null);
  try {
    for (const [path, content] of Object.entries(files)) await sv.writeFile(path, content);
    const specs = programs(sv);
    await sv.writeConfig({ programs: specs });
    await sv.start();
    const workers = specs.filter((p) => p.options?.autostart !== false).length;
    await _until("every worker RUNNING", async () => {
      const infos = await sv.client().getAllProcessInfo();
      return infos.filter((i) => i.state === "RUNNING").length === workers || undefined;
    }, 60_000);
    return sv;
  } catch (error) {
    await sv[Symbol.asyncDispose]();
    throw error;
  }
}

/** Starts `variant`'s releasemon on every host, runs `body`, and stops them again. */
async function _withInstances(
  hosts: readonly Host[],
  variant: string,
  fleet: boolean,
  signal: AbortSignal,
  body: () => Promise<void>,
): Promise<void> {
  const logs = hosts.map((host) => new _LogTail(`${host.sv.dir}/${host.instance(variant)}.log`));
  await Promise.all(logs.map((tail) => tail.lines()));
  try {
    await Promise.all(hosts.map((host) => host.sv.client().startProcess(host.instance(variant))));
    await Promise.all(logs.map(async (tail) => {
      let text = "";
      await _until(
        `${tail.path} to watch${fleet ? " and connect" : ""}`,
        async () => {
          text += (await tail.lines()).join("\n") + "\n";
          const watching = /\[run\] Watching /.test(text);
          return (watching && (!fleet || /Connected to the fleet/.test(text))) || undefined;
        },
        120_000,
        signal,
      );
    }));
    await body();
  } finally {
    await Promise.all(
      hosts.map((host) => host.sv.client().stopProcess(host.instance(variant)).catch(() => false)),
    );
  }
}

/** Lands `version` on every host at once; waits until each worker restarted and is RUNNING. */
async function _rollout(hosts: readonly Host[], version: string, signal: AbortSignal) {
  const supervisords = [...new Set(hosts.map((host) => host.sv))];
  const tails = new Map(supervisords.map((sv) => [sv, new _LogTail(`${sv.dir}/supervisord.log`)]));
  await Promise.all([...tails.values()].map((tail) => tail.lines()));
  const deployedAt = Date.now();
  await Promise.all(hosts.map(async (host) => {
    const tmp = `${host.versionFile}.tmp`;
    await Deno.writeTextFile(tmp, `${version}\n`);
    await Deno.rename(tmp, host.versionFile);
  }));
  const lines = new Map(supervisords.map((sv) => [sv, [] as string[]]));
  const times = (host: Host, what: RegExp) =>
    lines.get(host.sv)!.filter((line) => what.test(line)).map(supervisordLogTime);
  const stopped = (host: Host) => new RegExp(` stopped: ${host.worker} \\(`);
  const running = (host: Host) => new RegExp(` success: ${host.worker} entered RUNNING state`);
  await _until(
    `${hosts.length} host(s) to run version ${version}`,
    async () => {
      for (const [sv, tail] of tails) lines.get(sv)!.push(...await tail.lines());
      return hosts.every((host) => times(host, running(host)).length > 0) || undefined;
    },
    60_000 + hosts.length * 10_000,
    signal,
  );
  const rollout: Rollout = { deployedAt, hosts: [] };
  for (const host of hosts) {
    const stops = times(host, stopped(host)), starts = times(host, running(host));
    if (stops.length !== 1 || starts.length !== 1) {
      throw new Error(
        `Cannot trust the fleet rollout of ${version}: ${host.id} stopped ${stops.length} and ` +
          `entered RUNNING ${starts.length} times`,
      );
    }
    rollout.hosts.push({ id: host.id, stoppedAt: stops[0]!, runningAt: starts[0]! });
  }
  return rollout;
}

function _summary(rollout: Rollout): RolloutSummary {
  const edges = rollout.hosts.flatMap((h) => [[h.stoppedAt, 1], [h.runningAt, -1]] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0, maxConcurrent = 0;
  for (const [, delta] of edges) maxConcurrent = Math.max(maxConcurrent, open += delta);
  // +0.5: supervisord's log truncates to the ms.
  const last = Math.max(...rollout.hosts.map((h) => h.runningAt)) + 0.5;
  return { rolloutMs: last - rollout.deployedAt, maxConcurrent };
}

interface MarkdownInput {
  layout: FleetLayout;
  hostCount: number;
  oneHostMs: number;
  detectMs: number;
  freeMs: number;
  reps: number;
  rows: {
    n: number;
    rounds: number;
    rolloutMs: number;
    idealMs: number;
    overheadPerHostMs: number;
    maxConcurrent: number;
  }[];
  seconds: number;
}

function _markdown(input: MarkdownInput): string {
  const { hostCount: h } = input;
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const layout = input.layout === "separate"
    ? `${h} hosts, each its own supervisord with one worker and releasemon as a [program]`
    : `${h} hosts simulated in ONE supervisord: ${h} releasemon [program]s, each with its own ` +
      "version file and --fleet-id, each restarting its own worker";
  return [
    `### Fleet rollout: ${h} hosts, one deploy`,
    "",
    `Layout: ${layout}; one redis-server; workers \`sleep\` with startsecs=${STARTSECS}. ` +
    "Rollout = deploy on every host → the last worker RUNNING (supervisord's log). " +
    `One host's restart time (no --fleet, one host): ${s(input.oneHostMs)} s, of which ` +
    `${s(input.detectMs)} s from the deploy to the worker's stop. All ${h} hosts at once ` +
    `without --fleet: ${s(input.freeMs)} s. Run time ${input.seconds.toFixed(0)} s.`,
    "",
    "| --fleet-max N | rounds ⌈H/N⌉ | rollout (s) | ideal = rounds × one host (s) | " +
    "overhead per host (ms) | most hosts down at once |",
    "|---|---|---|---|---|---|",
    ...input.rows.map((row) =>
      `| ${row.n} | ${row.rounds} | ${s(row.rolloutMs)} | ${s(row.idealMs)} | ` +
      `${row.overheadPerHostMs.toFixed(0)} | ${row.maxConcurrent}` +
      `${row.maxConcurrent > row.n ? " **(more than N)**" : ""} |`
    ),
    "",
    `Overhead per host = (rollout − ideal) / ${h}; rollout is the median of ${input.reps} ` +
    "deploy(s) per N. At large N the hosts also compete for the same cores, which the one-host " +
    "time does not see: compare with the all-at-once time without --fleet. Most hosts down at " +
    "once: from each worker's stop to its RUNNING, in supervisord's log; at most N is correct.",
  ].join("\n");
}

/** Reads what a file gained since the last call, in whole lines. */
class _LogTail {
  #offset = 0;
  #partial = "";
  readonly #decoder = new TextDecoder();

  constructor(readonly path: string) {}

  async lines(): Promise<string[]> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const text = this.#partial + this.#decoder.decode(bytes.subarray(this.#offset));
    this.#offset = bytes.length;
    const end = text.lastIndexOf("\n");
    this.#partial = text.slice(end + 1);
    return end < 0 ? [] : text.slice(0, end).split("\n");
  }
}

async function _until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) {
      throw new Error(`Cannot finish the fleet benchmark: timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function _disposeAll(resources: readonly AsyncDisposable[]): Promise<void> {
  const results = await Promise.allSettled(resources.map((r) => r[Symbol.asyncDispose]()));
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
}

function _median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const _encoder = new TextEncoder();

function _say(text: string): void {
  let bytes = _encoder.encode(`${text}\n`);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { quick: { type: "boolean" }, layout: { type: "string" }, json: { type: "string" } },
  });
  const layout = values.layout ?? "separate";
  if (layout !== "separate" && layout !== "shared") {
    _say("usage: scripts/bench/fleet.ts [--quick] [--layout separate|shared] [--json FILE]");
    Deno.exit(2);
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error("Interrupted; tearing down"));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const result = await benchFleet({
    quick: values.quick ?? false,
    layout,
    signal: controller.signal,
  });
  _say(result.markdown);
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(result.json, null, 2));
}
