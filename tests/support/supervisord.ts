/**
 * Starts a real supervisord (Debian's `supervisor` package) in a short temp dir for a test, and
 * always tears it down: `await using sv = await startSupervisord({ programs })`.
 *
 * The config has a unix socket (optionally with a username/password) and, when asked, an
 * inet_http_server on a free 127.0.0.1 port. Readiness is "`supervisor.getState` answers", polled
 * under a deadline; teardown sends SIGTERM, waits for exit (SIGKILL after a deadline) and removes
 * the dir, so no process or file outlives the test.
 *
 * @module
 */
import { terminate } from "./child.ts";
import { createClient, type SupervisorClient } from "../../lib/supervisor/client.ts";

/** One `[program:x]` section. Values are written as given (supervisord's own syntax). */
export interface ProgramSpec {
  name: string;
  command: string;
  /** Extra `key=value` lines, e.g. `{ startsecs: "0", autostart: "false" }`. */
  options?: Record<string, string | number | boolean>;
}

export interface SupervisordOptions {
  programs?: ProgramSpec[];
  /** `[group:x] programs=a,b` sections. */
  groups?: Record<string, string[]>;
  /** Username and password on both servers. */
  auth?: { username: string; password: string };
  /** Also listen on 127.0.0.1:<free port>. */
  inet?: boolean;
  /** Raw text appended to supervisord.conf (e.g. an `[include]` section). */
  extraConfig?: string;
  /** Files to create in the temp dir before start (relative path → content). */
  files?: Record<string, string>;
  /** Do not start supervisord yet; call `start()` later. */
  deferStart?: boolean;
  /** Extra environment variables for supervisord (for `%(ENV_X)s` expansion; children inherit them). */
  env?: Record<string, string>;
}

export class Supervisord implements AsyncDisposable {
  readonly dir: string;
  readonly configPath: string;
  readonly socketPath: string;
  readonly unixUrl: string;
  readonly inetUrl: string | null;
  readonly auth: { username: string; password: string } | null;
  readonly inetPort: number | null;
  readonly #env: Record<string, string>;
  #child: Deno.ChildProcess | null = null;

  constructor(
    dir: string,
    inetPort: number | null,
    auth: Supervisord["auth"],
    env: Record<string, string> = {},
  ) {
    this.dir = dir;
    this.inetPort = inetPort;
    this.#env = env;
    this.configPath = `${dir}/supervisord.conf`;
    this.socketPath = `${dir}/s.sock`;
    this.unixUrl = `unix://${this.socketPath}`;
    this.inetUrl = inetPort === null ? null : `http://127.0.0.1:${inetPort}`;
    this.auth = auth;
  }

  /** A client on the unix socket (with the configured credentials unless overridden). */
  client(overrides: { url?: string; username?: string; password?: string } = {}): SupervisorClient {
    return createClient({
      serverUrl: overrides.url ?? this.unixUrl,
      username: overrides.username ?? this.auth?.username,
      password: overrides.password ?? this.auth?.password,
      timeoutMs: 20_000,
    });
  }

  /** Environment a child of this supervisord would see (for running releasemon by hand). */
  env(): Record<string, string> {
    const env: Record<string, string> = { SUPERVISOR_SERVER_URL: this.unixUrl };
    if (this.auth) {
      env.SUPERVISOR_USERNAME = this.auth.username;
      env.SUPERVISOR_PASSWORD = this.auth.password;
    }
    return env;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Starts supervisord and waits until it answers `getState` with RUNNING. */
  async start(): Promise<void> {
    if (this.#child) return;
    this.#child = new Deno.Command("supervisord", {
      args: ["-n", "-c", this.configPath],
      env: this.#env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const client = this.client();
    const deadline = Date.now() + 20_000;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      try {
        const state = await client.getState();
        if (state.name === "RUNNING") return;
      } catch (error) {
        lastError = error;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.stop();
    throw new Error(`supervisord in "${this.dir}" did not answer within 20 s`, {
      cause: lastError,
    });
  }

  /** SIGTERM, wait for exit (its children stop with it), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    await terminate(child, 15_000);
  }

  /** Runs the real supervisorctl against this supervisord; returns its stdout. */
  async ctl(...args: string[]): Promise<string> {
    const output = await new Deno.Command("supervisorctl", {
      args: ["-c", this.configPath, ...args],
      stdin: "null",
    }).output();
    return new TextDecoder().decode(output.stdout);
  }

  /**
   * Rewrites supervisord.conf for `options` (same dir, socket, port and auth); takes effect at the
   * next `start()`. For configs that need the socket path, e.g. releasemon's own `[program]`.
   */
  async writeConfig(options: SupervisordOptions): Promise<void> {
    await Deno.writeTextFile(this.configPath, renderConfig(this.dir, options, this.inetPort));
  }

  /** Writes (or replaces) a file under the temp dir. */
  async writeFile(relative: string, content: string): Promise<string> {
    const path = `${this.dir}/${relative}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, content);
    return path;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** A TCP port nobody listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Renders supervisord.conf for `options` in `dir`. */
export function renderConfig(
  dir: string,
  options: SupervisordOptions,
  inetPort: number | null,
): string {
  const auth = options.auth
    ? `username=${options.auth.username}\npassword=${options.auth.password}\n`
    : "";
  const lines = [
    "[unix_http_server]",
    `file=${dir}/s.sock`,
    "chmod=0700",
    auth,
    "[supervisord]",
    `logfile=${dir}/supervisord.log`,
    `pidfile=${dir}/supervisord.pid`,
    `childlogdir=${dir}`,
    "loglevel=info",
    "nodaemon=true",
    "",
    "[rpcinterface:supervisor]",
    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    "",
    "[supervisorctl]",
    `serverurl=unix://${dir}/s.sock`,
    options.auth ? `username=${options.auth.username}` : "",
    options.auth ? `password=${options.auth.password}` : "",
    "",
  ];
  if (inetPort !== null) lines.push("[inet_http_server]", `port=127.0.0.1:${inetPort}`, auth);
  for (const program of options.programs ?? []) {
    lines.push(`[program:${program.name}]`, `command=${program.command}`);
    const defaults = { startsecs: 0, stopwaitsecs: 5, stopasgroup: true, killasgroup: true };
    for (const [key, value] of Object.entries({ ...defaults, ...program.options })) {
      lines.push(`${key}=${value}`);
    }
    lines.push("");
  }
  for (const [group, programs] of Object.entries(options.groups ?? {})) {
    lines.push(`[group:${group}]`, `programs=${programs.join(",")}`, "");
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  return lines.join("\n") + "\n";
}

/** Writes the config, starts supervisord (unless deferred) and returns its handle. */
export async function startSupervisord(options: SupervisordOptions = {}): Promise<Supervisord> {
  // Short path: unix socket paths are limited to ~107 bytes.
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "rm-sv-" });
  const inetPort = options.inet ? freePort() : null;
  const supervisord = new Supervisord(dir, inetPort, options.auth ?? null, options.env);
  try {
    for (const [relative, content] of Object.entries(options.files ?? {})) {
      await supervisord.writeFile(relative, content);
    }
    await Deno.writeTextFile(supervisord.configPath, renderConfig(dir, options, inetPort));
    if (!options.deferStart) await supervisord.start();
    return supervisord;
  } catch (error) {
    await supervisord[Symbol.asyncDispose]();
    throw error;
  }
}

/** Polls `probe` until it returns a non-undefined value or the deadline passes. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}

/**
 * supervisord's log time (`2026-11-25 17:02:03,123`, local time, ms truncated) as ms since the
 * epoch; throws for a line that does not start with one.
 */
export function supervisordLogTime(line: string): number {
  const m = line.match(/^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) /);
  if (!m) throw new Error(`No supervisord timestamp at the start of ${JSON.stringify(line)}`);
  const [y, mo, d, h, mi, sec, ms] = m.slice(1).map(Number) as number[];
  return new Date(y!, mo! - 1, d!, h!, mi!, sec!, ms!).getTime();
}

/** A `[program]` section for a conf.d file: quick to start, stops within 5 s. */
export function confProgram(name: string, command: string, extra = ""): string {
  return `[program:${name}]\ncommand=${command}\nstartsecs=0\nstopwaitsecs=5\n${extra}`;
}

/**
 * A supervisord that includes `conf.d/*.conf`, running `app` (sleep 3600), whose files then hold
 * a change not yet read: `app` with a new command (sleep 3601) and a new `newbie` (sleep 3602).
 */
export async function startWithPendingConfChange(): Promise<Supervisord> {
  const sv = await startSupervisord({
    extraConfig: "[include]\nfiles = conf.d/*.conf\n",
    files: { "conf.d/app.conf": confProgram("app", "sleep 3600") },
  });
  try {
    const client = sv.client();
    await waitFor("app RUNNING", async () => {
      const info = await client.getProcessInfo("app:app");
      return info.state === "RUNNING" ? info : undefined;
    });
    await sv.writeFile("conf.d/app.conf", confProgram("app", "sleep 3601"));
    await sv.writeFile("conf.d/newbie.conf", confProgram("newbie", "sleep 3602"));
    return sv;
  } catch (error) {
    await sv[Symbol.asyncDispose]();
    throw error;
  }
}
