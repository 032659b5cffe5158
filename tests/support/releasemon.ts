/**
 * Runs releasemon the way users do: as a `[program]` of a real supervisord, under exactly the
 * Deno permissions the compiled binary gets (`scripts/permissions.ts`), and deploys versions the
 * way deploy tools write them.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { permissionFlags } from "../../scripts/permissions.ts";
import {
  type ProgramSpec,
  startSupervisord,
  type Supervisord,
  type SupervisordOptions,
  waitFor,
} from "./supervisord.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** Quotes one argument for supervisord's `command=` (shlex rules) and escapes `%` for its parser. */
export function quoteArg(arg: string): string {
  const quoted = /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'"'"'`)}'`;
  return quoted.replaceAll("%", "%%");
}

/** The argv that runs main.ts under the binary's permissions, for a socket in `socketPath`. */
export function releasemonArgv(args: readonly string[], socketPath: string): string[] {
  return [
    Deno.execPath(),
    "run",
    "--frozen",
    "--config",
    `${REPO_ROOT}/deno.json`,
    ...permissionFlags({ sockets: [socketPath] }),
    `${REPO_ROOT}/main.ts`,
    ...args,
  ];
}

/**
 * A `[program:releasemon]` entry running main.ts with `args`. `rawArgs` are appended unquoted
 * (for supervisord expansions such as `%(ENV_X)s`). Logs go to `<dir>/releasemon.log`.
 */
export function releasemonProgram(
  sv: { socketPath: string; dir: string },
  args: readonly string[],
  options: { name?: string; rawArgs?: string; extra?: ProgramSpec["options"] } = {},
): ProgramSpec {
  const argv = releasemonArgv(args, sv.socketPath).map(quoteArg).join(" ");
  return {
    name: options.name ?? "releasemon",
    command: options.rawArgs ? `${argv} ${options.rawArgs}` : argv,
    options: {
      startsecs: 0,
      stopwaitsecs: 15,
      redirect_stderr: true,
      stdout_logfile: `${sv.dir}/releasemon.log`,
      stopasgroup: false,
      killasgroup: false,
      ...options.extra,
    },
  };
}

/**
 * Starts a supervisord whose config also holds the programs `more(sv)` returns: for entries that
 * need the socket path or the temp dir (releasemon's own `[program]`), known only once the dir
 * exists. Honours `options.deferStart`. Dispose the result with `await using`.
 */
export async function startSupervisordWith(
  options: SupervisordOptions,
  more: (sv: Supervisord) => ProgramSpec[],
): Promise<Supervisord> {
  const sv = await startSupervisord({ ...options, deferStart: true });
  try {
    await sv.writeConfig({ ...options, programs: [...(options.programs ?? []), ...more(sv)] });
    if (!options.deferStart) await sv.start();
    return sv;
  } catch (error) {
    await sv[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * Starts a supervisord whose config also runs releasemon with `args` as `[program:releasemon]`.
 * `args` may be a function of the new supervisord, for paths in its dir.
 */
export async function startWithReleasemon(
  options: SupervisordOptions,
  args: readonly string[] | ((sv: Supervisord) => readonly string[]),
  program: Parameters<typeof releasemonProgram>[2] = {},
): Promise<Supervisord> {
  return await startSupervisordWith(options, (sv) => [
    releasemonProgram(sv, typeof args === "function" ? args(sv) : args, program),
  ]);
}

/**
 * A releasemon `[program:<name>]` that does not autostart and logs to `<dir>/<name>.log`, so one
 * supervisord can hold several differently configured releasemons, each started by a test step
 * ({@link startInstance}) and stopped at its end.
 */
export function releasemonInstance(
  sv: { socketPath: string; dir: string },
  name: string,
  args: readonly string[],
  options: { rawArgs?: string; extra?: ProgramSpec["options"] } = {},
): ProgramSpec {
  return releasemonProgram(sv, args, {
    name,
    ...(options.rawArgs === undefined ? {} : { rawArgs: options.rawArgs }),
    extra: { autostart: false, stdout_logfile: `${sv.dir}/${name}.log`, ...options.extra },
  });
}

/** `supervisorctl start <name>`, then waits until that releasemon watches; returns its log. */
export async function startInstance(sv: Supervisord, name: string): Promise<string> {
  const out = await sv.ctl("start", name);
  if (!out.includes(`${name}: started`)) {
    throw new Error(`Cannot start "${name}": supervisorctl said ${JSON.stringify(out)}`);
  }
  return await waitForLog(sv, /\[run\] Watching /, 30_000, `${name}.log`);
}

/** `supervisorctl stop <name>`; returns supervisorctl's answer. */
export async function stopInstance(sv: Supervisord, name: string): Promise<string> {
  return await sv.ctl("stop", name);
}

/** Lines of `text` matching `pattern`. */
export function matchingLines(text: string, pattern: RegExp): string[] {
  return text.split("\n").filter((line) => pattern.test(line));
}

/** The timestamp (ms since the epoch) of the first log line matching `pattern`. */
export function logTime(text: string, pattern: RegExp): number {
  const line = matchingLines(text, pattern)[0];
  if (line === undefined) throw new Error(`No log line matches ${pattern}`);
  const time = Date.parse(line.slice(0, line.indexOf(" ")));
  if (Number.isNaN(time)) throw new Error(`No timestamp at the start of ${JSON.stringify(line)}`);
  return time;
}

/**
 * Waits until every namespec is RUNNING and its process has exec'd its command; returns their
 * pids. Safe to stop from then on: until the exec, supervisord's forked child still runs
 * supervisord's own Python signal handlers, which swallow a SIGTERM, so a stop sent then is lost
 * and costs stopwaitsecs. With startsecs=0 supervisord reports RUNNING before that exec.
 */
export async function waitForRunning(
  sv: Supervisord,
  namespecs: readonly string[],
  timeoutMs = 30_000,
): Promise<Record<string, number>> {
  return await waitFor(`${namespecs.join(", ")} RUNNING and exec'd`, async () => {
    const infos = await sv.client().getAllProcessInfo();
    const running = infos.filter((i) => i.state === "RUNNING" && namespecs.includes(i.namespec));
    if (running.length !== namespecs.length) return undefined;
    for (const info of running) if (!await hasExeced(sv, info.pid)) return undefined;
    return Object.fromEntries(running.map((i) => [i.namespec, i.pid]));
  }, timeoutMs);
}

/**
 * Whether `pid`, a child of `sv`, has exec'd its command: its /proc/<pid>/comm is no longer that
 * of supervisord, whose forked copy it was. False when it is gone.
 */
export async function hasExeced(sv: Supervisord, pid: number): Promise<boolean> {
  const comm = async (pid: number | null) =>
    pid === null ? null : (await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => null))?.trim();
  const own = await comm(pid);
  return own !== null && own !== undefined && own !== await comm(sv.pid);
}

/** Namespecs (among `before`'s keys) whose pid differs in `after`, sorted. */
export function changedPids(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): string[] {
  return Object.keys(before).filter((namespec) => after[namespec] !== before[namespec]).sort();
}

/** The delay a "restarting in …" log line announces, in ms ("2000 ms", "2 seconds", "1.5 seconds"). */
export function announcedDelayMs(line: string): number {
  const match = line.match(/restarting in ([\d.]+) (ms|seconds?)\b/);
  if (!match) throw new Error(`No "restarting in" delay in ${JSON.stringify(line)}`);
  return Number(match[1]) * (match[2] === "ms" ? 1 : 1000);
}

/** Environment variables releasemon reads that must not leak from the test runner's own. */
const INHERITED_BLOCKLIST = /^(SUPERVISOR_|NO_COLOR$)/;

/**
 * releasemon run by hand as a plain subprocess (not under supervisord), its stderr (the log)
 * collected in memory. `await using` stops it (SIGTERM, SIGKILL after 15 s) and awaits its exit.
 */
export class ReleasemonProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #pump: Promise<void>;
  readonly status: Promise<Deno.CommandStatus>;
  #text = "";
  #exited = false;

  constructor(argv: string[], env: Record<string, string>) {
    const inherited = Object.entries(Deno.env.toObject())
      .filter(([name]) => !INHERITED_BLOCKLIST.test(name));
    const child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      clearEnv: true,
      env: { ...Object.fromEntries(inherited), ...env },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.#text += decoder.decode(chunk, { stream: true });
      }
    })();
    this.status = child.status.then((status) => {
      this.#exited = true;
      return status;
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Everything written to stderr so far. */
  get log(): string {
    return this.#text;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Waits until the log matches `pattern`; fails early if the process exits. Returns the log. */
  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.#text)) {
      if (this.#exited) {
        await this.#pump;
        if (pattern.test(this.#text)) break;
        throw new Error(`releasemon exited before its stderr matched ${pattern}:\n${this.#text}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for releasemon stderr to match ${pattern}:\n` +
            this.#text,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return this.#text;
  }

  /** Sends `signal` and waits (up to `timeoutMs`) for the exit status and the whole log. */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
    const killer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, timeoutMs);
    try {
      const status = await this.status;
      await this.#pump;
      return status;
    } finally {
      clearTimeout(killer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) await this.stop();
    await this.status;
    await this.#pump;
  }
}

/**
 * Starts releasemon as a plain subprocess with `args`, permitted to use `socketPath` (the socket
 * may not exist yet), with `env` (e.g. `sv.env()`) on top of the runner's environment.
 */
export function spawnReleasemon(
  args: readonly string[],
  options: { socketPath: string; env?: Record<string, string> },
): ReleasemonProcess {
  return new ReleasemonProcess(releasemonArgv(args, options.socketPath), options.env ?? {});
}

/** The releasemon log written so far (empty when it does not exist yet). */
export async function readLog(sv: Supervisord, file = "releasemon.log"): Promise<string> {
  return await Deno.readTextFile(`${sv.dir}/${file}`).catch(() => "");
}

/** Waits until the releasemon log matches `pattern`; returns the whole log. */
export async function waitForLog(
  sv: Supervisord,
  pattern: RegExp,
  timeoutMs = 30_000,
  file = "releasemon.log",
): Promise<string> {
  try {
    return await waitFor(`releasemon log to match ${pattern}`, async () => {
      const text = await readLog(sv, file);
      return pattern.test(text) ? text : undefined;
    }, timeoutMs);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`${why}; ${file}:\n${await readLog(sv, file)}`, { cause: error });
  }
}

/** pid of every process, by namespec. */
export async function pids(sv: Supervisord): Promise<Record<string, number>> {
  const infos = await sv.client().getAllProcessInfo();
  return Object.fromEntries(infos.map((i) => [i.namespec, i.pid]));
}

/** Deploy styles, each the way real tools write a version file. */
export const deploy = {
  /** `echo v > VERSION` */
  async inPlace(path: string, content: string): Promise<void> {
    await Deno.writeTextFile(path, content);
  },
  /** write `.VERSION.tmp`, then rename over (Ansible, rsync, most deploy tools). */
  async atomic(path: string, content: string): Promise<void> {
    const dir = path.slice(0, path.lastIndexOf("/"));
    const tmp = `${dir}/.${path.slice(dir.length + 1)}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(tmp, content);
    await Deno.rename(tmp, path);
  },
  /** Capistrano: `releases/<n>/VERSION`, then swap the `current` symlink atomically. */
  async symlinkSwap(root: string, release: string, content: string): Promise<void> {
    await Deno.mkdir(`${root}/releases/${release}`, { recursive: true });
    await Deno.writeTextFile(`${root}/releases/${release}/VERSION`, content);
    const tmp = `${root}/current.tmp-${release}`;
    await Deno.symlink(`releases/${release}`, tmp);
    await Deno.rename(tmp, `${root}/current`);
  },
  /** Kubernetes ConfigMap volume: `..<ts>/VERSION`, swap `..data`, drop the old dir. */
  async configMap(root: string, stamp: string, content: string): Promise<void> {
    const previous = await Deno.readLink(`${root}/..data`).catch(() => null);
    await Deno.mkdir(`${root}/..${stamp}`, { recursive: true });
    await Deno.writeTextFile(`${root}/..${stamp}/VERSION`, content);
    await Deno.symlink(`..${stamp}`, `${root}/..data_tmp`);
    await Deno.rename(`${root}/..data_tmp`, `${root}/..data`);
    await Deno.symlink("..data/VERSION", `${root}/VERSION`).catch(() => {});
    if (previous) await Deno.remove(`${root}/${previous}`, { recursive: true });
  },
};

/** A finished command's exit code and its output as text. */
export function textOutput(
  output: Deno.CommandOutput,
): { code: number; stdout: string; stderr: string } {
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
