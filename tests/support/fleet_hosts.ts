/**
 * Simulated fleet hosts for the `--fleet` end-to-end tests: each host is its own supervisord (own
 * temp dir) running worker programs and releasemon as a `[program]` with its own version file
 * and `--fleet-id`. `await using hosts = await
 * startFleetHosts(...)` stops every supervisord (and so every releasemon and worker) and removes
 * every temp dir.
 *
 * The workers record their own start and stop times (CLOCK_REALTIME, ns), so a test can rebuild
 * when each host's programs were down from the programs' clocks rather than from releasemon's
 * logs.
 *
 * @module
 */
import { supervisordLogTime } from "./supervisord.ts";
import type { RedisServer } from "./redis.ts";
import {
  deploy,
  readLog,
  releasemonArgv,
  releasemonProgram,
  startSupervisordWith,
  textOutput,
  waitForLog,
} from "./releasemon.ts";
import type { ProgramSpec, Supervisord } from "./supervisord.ts";

/**
 * Appends `start <ns>` when it starts and `stop <ns>` on SIGTERM to the file `$1`; exits 3 at
 * start while a file `broken` sits next to it (a release that cannot start).
 */
export const WORKER_SH = `#!/bin/sh
echo "start $(date +%s%N)" >> "$1"
trap 'echo "stop $(date +%s%N)" >> "$1"; exit 0' TERM
test -e "$(dirname "$1")/broken" && exit 3
while :; do sleep 0.05; done
`;

/** Where each host's version file lives: a dir of its own, so log writes never wake the watcher. */
export const VERSION_FILE = "app/VERSION";

export interface FleetHostsOptions {
  /** Hosts to start; their fleet ids are `host0`, `host1`, … */
  count: number;
  /** `--fleet-name`, shared by every host. */
  fleetName: string;
  /** Worker programs per host. @default ["w1"] */
  programs?: readonly string[];
  /** The workers' `startsecs`, or host `i`'s. @default 1 */
  startsecs?: number | ((index: number) => number);
  /** The version every host starts with. @default "v1" */
  version?: string;
  /** Extra releasemon arguments for host `i` (after `--fleet*`, before PATH). */
  args?: (index: number) => readonly string[];
  /**
   * `RELEASEMON_FLEET_PASSWORD` for host `i` through supervisord's `environment=` (letters and
   * digits only: it is written into the config as is), or null for none.
   */
  password?: (index: number) => string | null;
  /** Extra `[program:releasemon]` options (e.g. `autorestart: false`). */
  releasemonOptions?: ProgramSpec["options"];
  /** Log a post-restart line `<RELEASEMON_VERSION> <RELEASEMON_OUTCOME>` to `<dir>/post.log`. */
  postLog?: boolean;
}

/** One simulated host. */
export class FleetHost {
  readonly index: number;
  readonly id: string;
  readonly sv: Supervisord;
  readonly programs: readonly string[];

  constructor(index: number, sv: Supervisord, programs: readonly string[]) {
    this.index = index;
    this.id = `host${index}`;
    this.sv = sv;
    this.programs = programs;
  }

  get versionFile(): string {
    return `${this.sv.dir}/${VERSION_FILE}`;
  }

  /** Namespecs of the worker programs. */
  get namespecs(): string[] {
    return this.programs.map((name) => `${name}:${name}`);
  }

  /** releasemon's log so far. */
  async log(): Promise<string> {
    return await readLog(this.sv);
  }

  /** Waits until releasemon's log matches `pattern`; returns the log. */
  async waitForLog(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    return await waitForLog(this.sv, pattern, timeoutMs);
  }

  /** Lines of the post-restart log (`<version> <outcome>`). */
  async postLines(): Promise<string[]> {
    const text = await Deno.readTextFile(`${this.sv.dir}/post.log`).catch(() => "");
    return text.split("\n").filter((line) => line !== "");
  }

  /** The start/stop events of worker `name`, in ms since the epoch (fractional), in file order. */
  async events(name: string): Promise<WorkerEvent[]> {
    const text = await Deno.readTextFile(`${this.sv.dir}/${name}.times`).catch(() => "");
    return text.split("\n").filter((line) => line !== "").map((line) => {
      const [kind, ns] = line.split(" ");
      if ((kind !== "start" && kind !== "stop") || ns === undefined || !/^\d+$/.test(ns)) {
        throw new Error(`Cannot read worker times line ${JSON.stringify(line)}`);
      }
      return { kind, ms: Number(BigInt(ns) / 1_000n) / 1_000 };
    });
  }

  /**
   * This host's restarts: for each restart of its workers (a stop followed by a start), the span
   * from the first worker's stop to the last worker's start. Throws when the workers restarted a
   * different number of times.
   */
  async downIntervals(): Promise<Interval[]> {
    const perProgram = await Promise.all(this.programs.map((name) => this.events(name)));
    const restarts = perProgram.map((events) => _restarts(events));
    const counts = new Set(restarts.map((r) => r.length));
    if (counts.size !== 1) {
      throw new Error(
        `Cannot pair the restarts of ${this.id}: its workers restarted ${
          restarts.map((r) => r.length).join(", ")
        } times`,
      );
    }
    const n = restarts[0]!.length;
    return Array.from({ length: n }, (_, k) => ({
      host: this.id,
      from: Math.min(...restarts.map((r) => r[k]!.from)),
      to: Math.max(...restarts.map((r) => r[k]!.to)),
    }));
  }

  /**
   * When supervisord saw worker `name` enter RUNNING, from its own log (ms since the epoch,
   * truncated to the ms), oldest first. The worker's own start line can lag supervisord's spawn
   * by hundreds of ms on a loaded machine, so "start + startsecs" is not when it became RUNNING.
   */
  async runningTimes(name: string): Promise<number[]> {
    const text = await Deno.readTextFile(`${this.sv.dir}/supervisord.log`).catch(() => "");
    return text.split("\n")
      .filter((line) => line.includes(` success: ${name} entered RUNNING state`))
      .map(supervisordLogTime);
  }

  /** Times each worker has been started (first start included). */
  async starts(): Promise<number[]> {
    return await Promise.all(
      this.programs.map(async (name) =>
        (await this.events(name)).filter((e) => e.kind === "start").length
      ),
    );
  }

  /** Makes the next start of this host's workers fail (exit 3), or undoes it. */
  async setBroken(broken: boolean): Promise<void> {
    const path = `${this.sv.dir}/broken`;
    if (broken) await Deno.writeTextFile(path, "");
    else await Deno.remove(path).catch(() => {});
  }

  /** Lands `version` in this host's version file the way deploy tools do. */
  async deploy(version: string): Promise<void> {
    await deploy.atomic(this.versionFile, `${version}\n`);
  }
}

export interface WorkerEvent {
  kind: "start" | "stop";
  ms: number;
}

/** A span of time (ms since the epoch) on one host. */
export interface Interval {
  host: string;
  from: number;
  to: number;
}

/** The hosts of one test; disposing stops them all (in parallel) and removes their dirs. */
export class FleetHosts implements AsyncDisposable {
  readonly hosts: FleetHost[];

  constructor(hosts: FleetHost[]) {
    this.hosts = hosts;
  }

  /** Waits until every host's releasemon watches its file and has tried the fleet once. */
  async ready(timeoutMs = 90_000): Promise<void> {
    await Promise.all(this.hosts.map(async (host) => {
      await host.waitForLog(/\[run\] Watching /, timeoutMs);
      await host.waitForLog(/Connected to the fleet|Cannot reach the fleet/, timeoutMs);
    }));
  }

  /** Writes `version` to every host's version file at about the same moment. */
  async deployAll(version: string, hosts: readonly FleetHost[] = this.hosts): Promise<void> {
    await Promise.all(hosts.map((host) => host.deploy(version)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await _disposeAll(this.hosts.map((host) => host.sv));
  }
}

/** The most intervals that overlap at any instant, and one instant where that many do. */
export function maxOverlap(intervals: readonly Interval[]): { count: number; hosts: string[] } {
  // Ends sort before starts at the same instant: touching intervals do not overlap.
  const edges = intervals.flatMap((i) => [
    { at: i.from, delta: 1, host: i.host },
    { at: i.to, delta: -1, host: i.host },
  ]).sort((a, b) => a.at - b.at || a.delta - b.delta);
  const open = new Set<string>();
  let best = { count: 0, hosts: [] as string[] };
  let count = 0;
  for (const edge of edges) {
    count += edge.delta;
    if (edge.delta > 0) open.add(edge.host);
    else open.delete(edge.host);
    if (count > best.count) best = { count, hosts: [...open].sort() };
  }
  return best;
}

/**
 * Starts `options.count` hosts in parallel against `redis`, each releasemon with
 * `--fleet <redis.url> --fleet-name <name> --fleet-id host<i>` plus `args(i)`, targeting all its
 * workers (`-a`). Returns once every supervisord answers; call {@linkcode FleetHosts.ready} to
 * wait for the releasemons.
 */
export async function startFleetHosts(
  redis: RedisServer,
  options: FleetHostsOptions,
): Promise<FleetHosts> {
  const programs = options.programs ?? ["w1"];
  const startsecs = options.startsecs ?? 1;
  const startsecsOf = typeof startsecs === "number" ? () => startsecs : startsecs;
  const version = options.version ?? "v1";
  const started = await Promise.allSettled(
    Array.from({ length: options.count }, async (_, index) => {
      const sv = await startSupervisordWith({
        programs: programs.map((name) => ({
          name,
          command: `sh %(here)s/worker.sh %(here)s/${name}.times`,
          options: { startsecs: startsecsOf(index), startretries: 0, stopwaitsecs: 10 },
        })),
        files: { "worker.sh": WORKER_SH, [VERSION_FILE]: `${version}\n` },
      }, (sv) => [fleetReleasemon(sv, redis, index, options)]);
      return new FleetHost(index, sv, programs);
    }),
  );
  const hosts = started.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const failure = started.find((r) => r.status === "rejected");
  if (failure) {
    await _disposeAll(hosts.map((host) => host.sv));
    throw failure.reason;
  }
  return new FleetHosts(hosts);
}

/** Disposes every one of `resources` at once; throws the first failure after all settled. */
async function _disposeAll(resources: readonly AsyncDisposable[]): Promise<void> {
  const results = await Promise.allSettled(resources.map((r) => r[Symbol.asyncDispose]()));
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
}

function fleetReleasemon(
  sv: Supervisord,
  redis: RedisServer,
  index: number,
  options: FleetHostsOptions,
): ProgramSpec {
  const args = [
    "--fleet",
    redis.url,
    "--fleet-name",
    options.fleetName,
    "--fleet-id",
    `host${index}`,
    "--no-catch-up",
    ...(options.args?.(index) ?? []),
  ];
  if (options.postLog) {
    args.push("-post", `echo "$RELEASEMON_VERSION $RELEASEMON_OUTCOME" >> ${sv.dir}/post.log`);
  }
  args.push(`${sv.dir}/${VERSION_FILE}`, "-a");
  const password = options.password?.(index) ?? null;
  return releasemonProgram(sv, args, {
    extra: {
      ...(password === null ? {} : { environment: `RELEASEMON_FLEET_PASSWORD="${password}"` }),
      ...options.releasemonOptions,
    },
  });
}

/** The output of `main.ts --fleet … --fleet-status|--fleet-resume` run as a plain command. */
export interface FleetCommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main.ts --fleet <redis.url> --fleet-name <name> <args…>` once (status, resume). */
export async function fleetCommand(
  redis: RedisServer,
  fleetName: string,
  args: readonly string[],
): Promise<FleetCommandResult> {
  const argv = releasemonArgv(
    ["--fleet", redis.url, "--fleet-name", fleetName, ...args],
    "/tmp/rm-fleet-no-socket",
  );
  const env: Record<string, string> = redis.password === null
    ? {}
    : { RELEASEMON_FLEET_PASSWORD: redis.password };
  const output = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return textOutput(output);
}

/** `--fleet-status --log-format json`, parsed. */
export async function fleetStatusJson(redis: RedisServer, fleetName: string): Promise<FleetStatus> {
  const result = await fleetCommand(redis, fleetName, ["--fleet-status", "--log-format", "json"]);
  if (result.code !== 0) {
    throw new Error(`--fleet-status exited with ${result.code}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as FleetStatus;
}

/** The JSON `--fleet-status --log-format json` prints (lib/fleet/status_format.ts). */
export interface FleetStatus {
  group: string;
  version: { hash: string; label: string } | null;
  halted: { reason: string; by: string; at: number } | null;
  hosts: { hostId: string; state: string; outcome: string | null; detail: string; at: number }[];
  slots: string[];
  counts: Record<string, number>;
}

/** Pairs each stop with the start that follows it, after the first start. */
function _restarts(events: readonly WorkerEvent[]): { from: number; to: number }[] {
  const pairs: { from: number; to: number }[] = [];
  for (let i = 1; i + 1 < events.length; i++) {
    const stop = events[i]!, start = events[i + 1]!;
    if (stop.kind === "stop" && start.kind === "start") pairs.push({ from: stop.ms, to: start.ms });
  }
  return pairs;
}
