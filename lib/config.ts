/**
 * The command line: argv + environment → {@link Config}, using superfsmon's flags so existing
 * supervisord entries keep working. Pure: no `Deno.*`, never prints, never exits (`main.ts` does).
 *
 * ```ini
 * [program:releasemon]
 * command=releasemon -e %(ENV_RELEASEMON_ENABLED)s -rd 30 /app/.version web -g workers
 * ```
 *
 * @module
 */
import { DEFAULT_SERVER_URL } from "./config_defaults.ts";
import { UsageError } from "./errors.ts";
import { parseServerUrl } from "./supervisor/server_url.ts";
import { absolutePath } from "./watch/path_chain.ts";
import { ArgvError } from "./_argv_types.ts";
import { type Flags, helpText, type LogLevel, parseFlags, usageLine } from "./_config_parser.ts";
import { isNamespec, MAX_SECONDS, MAX_TIMER_MS, ms } from "./_config_values.ts";

/** releasemon's version, shown by `--version`; keep in step with `deno.json`. */
export const VERSION = "0.1.0";
export { DEFAULT_SERVER_URL };

/** Everything releasemon needs to run; durations in milliseconds, converted from seconds here. */
export interface Config {
  versionFile: string; // PATH; absolute when parseConfig was given the start-up `cwd`
  programs: string[]; // PROG...: "name", "group:name" or "group:*"
  groups: string[]; // -g, repeatable
  any: boolean; // -a: every child of supervisord except releasemon itself
  enabled: boolean; // false when -e says no or --disable says yes: then wait for SIGTERM
  fixedDelayMs: number;
  randomDelayMs: number;
  runningOnly: boolean;
  preRestart: string | null;
  postRestart: string | null;
  hookTimeoutMs: number;
  serverUrl: string; // -s, else SUPERVISOR_SERVER_URL, else DEFAULT_SERVER_URL
  username: string | null; // -u, else SUPERVISOR_USERNAME
  password: string | null; // SUPERVISOR_PASSWORD only, never argv
  passwordFile: string | null; // main.ts reads it; it wins over SUPERVISOR_PASSWORD
  rpcTimeoutMs: number;
  settleMs: number;
  recheckMs: number; // 0: no periodic re-check
  pollMs: number | null; // set: polling-only mode
  logLevel: LogLevel;
  logFormat: "text" | "json";
  batchSize: number | null; // --rolling / --batch-size: restart N at a time, halt on a failure
  startTimeoutMs: number; // how long a restarted program may take to reach RUNNING
  catchUp: boolean; // at start, restart targets that started before the current version appeared
  revive: boolean; // also start targets in FATAL or BACKOFF
  dryRun: boolean; // log what would be restarted instead of restarting
  updateConfig: boolean; // apply changed program definitions (reloadConfig) before restarting
  readyCheck: string | null; // --ready-check: sh -c COMMAND until it exits 0
  readyUrl: string | null; // --ready-url: GET until a 2xx; {name} and {group} replaced
  readyIntervalMs: number; // between the starts of two readiness attempts
  readyTimeoutMs: number; // not ready this long after RUNNING: failed
  configurationFile: string | null; // -c: read server URL and credentials from supervisord.conf
  serverUrlExplicit: boolean; // -s given: it wins over -c
  usernameExplicit: boolean; // -u given: it wins over -c
  fleet: FleetConfig | null; // --fleet: coordinate restarts across hosts
  fleetMode: "status" | "resume" | null; // --fleet-status / --fleet-resume: print or clear, exit
  check: boolean; // --check: report the plan and every problem, restart nothing, exit
  status: boolean; // --status: report which targets run the current version, exit
  selfProcessName: string | null; // SUPERVISOR_PROCESS_NAME: how releasemon recognises itself
  selfGroupName: string | null; // SUPERVISOR_GROUP_NAME
}

/** `--fleet*` settings (lib/fleet/). */
export interface FleetConfig {
  url: string; // --fleet, else RELEASEMON_FLEET_URL
  password: string | null; // RELEASEMON_FLEET_PASSWORD only
  name: string; // --fleet-name: hosts sharing it coordinate
  hostId: string | null; // --fleet-id; null: the host name (main.ts)
  maxParallel: number;
  canary: number;
  onError: "wait" | "proceed";
  timeoutMs: number;
  leaseMs: number;
}

/** What the command line asked for. */
export type ParseResult =
  /** `usage`: the usage line, for a usage error found after parsing (main.ts: PATH a directory). */
  | { kind: "run"; config: Config; usage: string }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string };

/**
 * Parses releasemon's command line.
 *
 * @param argv the arguments after the program name
 * @param env the environment; only `SUPERVISOR_*` names are read
 * @param options.color whether help and usage may hold ANSI colours (main.ts: a terminal, no NO_COLOR)
 * @param options.cwd the directory at start-up: a relative PATH is resolved against it, so every
 * part of releasemon (watching, catch-up, safety warnings, hooks, logs) names the same file
 * @throws {UsageError} on bad or conflicting arguments, with the usage line (no newline) in `usage`
 */
export function parseConfig(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
  options: { color: boolean; cwd?: string },
): ParseResult {
  const usage = usageLine(options.color);
  const fail = (message: string): never => {
    throw new UsageError(message, { usage });
  };
  let ns: Flags;
  try {
    const outcome = parseFlags(argv);
    if (outcome.kind === "help") return { kind: "help", text: helpText(options.color) };
    if (outcome.kind === "version") return { kind: "version", text: `releasemon ${VERSION}` };
    ns = outcome.flags;
  } catch (error) {
    if (error instanceof ArgvError) return fail(error.message);
    throw error;
  }

  const fleetMode = ns.fleet_status ? "status" : ns.fleet_resume ? "resume" : null;
  const fleetUrl: string | null = ns.fleet ?? (env.RELEASEMON_FLEET_URL || null);
  if (fleetMode && fleetUrl === null) {
    fail(`argument --fleet-${fleetMode}: needs --fleet URL (or RELEASEMON_FLEET_URL)`);
  }
  if (ns.check && ns.status) fail("argument --status: not allowed with argument --check");
  if ((ns.check || ns.status) && fleetMode) {
    fail(
      `argument --${ns.check ? "check" : "status"}: not allowed with argument --fleet-${fleetMode}`,
    );
  }
  if (ns.ready_check !== undefined && ns.ready_url !== undefined) {
    fail("argument --ready-url: not allowed with argument --ready-check");
  }
  if (ns.ready_check === "") fail("argument --ready-check: COMMAND must not be empty");
  if (ns.fleet_status && ns.fleet_resume) {
    fail("argument --fleet-resume: not allowed with argument --fleet-status");
  }
  const versionFile: string = ns.path && options.cwd
    ? absolutePath(ns.path, options.cwd)
    : ns.path ?? "";
  const programs = [...new Set<string>(ns.program ?? [])];
  const groups = [...new Set<string>(ns.group ?? [])];
  if (ns.path === undefined && !fleetMode) fail("the following arguments are required: PATH");
  if (ns.path === "") fail("argument PATH: must not be empty");
  for (const program of programs) {
    if (program.includes("/")) {
      fail(
        `argument PROG: ${
          JSON.stringify(program)
        } looks like a path, not a program name: PATH (the ` +
          "version file) must be the first positional argument, before PROG",
      );
    }
    if (!isNamespec(program)) {
      fail(
        `argument PROG: invalid program name ${
          JSON.stringify(program)
        }: use "name", "group:name" or ` +
          `"group:*" (no whitespace, at most one colon)`,
      );
    }
  }
  if (ns.any && programs.length > 0) fail("argument -a/--any: not allowed with PROG");
  if (ns.any && groups.length > 0) fail("argument -a/--any: not allowed with argument -g/--group");
  if (!fleetMode && !ns.any && programs.length === 0 && groups.length === 0) {
    fail("nothing to restart: name programs (PROG), groups (-g/--group GROUP) or all (-a/--any)");
  }

  if (ms(ns.fixed_delay) + ms(ns.random_delay) > MAX_TIMER_MS) {
    fail(
      `argument -rd/--random-delay: -fd plus -rd must be at most ${MAX_SECONDS} seconds (about ` +
        `24 days), got ${ns.fixed_delay} + ${ns.random_delay}`,
    );
  }
  const urlFromEnv = env.SUPERVISOR_SERVER_URL || null;
  if (ns.serverurl === undefined && urlFromEnv) {
    try {
      parseServerUrl(urlFromEnv);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      fail(`environment variable SUPERVISOR_SERVER_URL: ${error.message}`);
    }
  }

  const config: Config = {
    versionFile,
    programs,
    groups,
    any: ns.any,
    enabled: ns.disable === undefined ? ns.enable ?? true : !ns.disable,
    fixedDelayMs: ms(ns.fixed_delay),
    randomDelayMs: ms(ns.random_delay),
    runningOnly: ns.running_only,
    preRestart: ns.pre_restart ?? null,
    postRestart: ns.post_restart ?? null,
    hookTimeoutMs: ms(ns.hook_timeout),
    serverUrl: ns.serverurl ?? urlFromEnv ?? DEFAULT_SERVER_URL,
    username: ns.username ?? (env.SUPERVISOR_USERNAME || null),
    password: env.SUPERVISOR_PASSWORD || null,
    passwordFile: ns.password_file ?? null,
    rpcTimeoutMs: ms(ns.rpc_timeout),
    settleMs: ms(ns.settle),
    recheckMs: ms(ns.recheck_interval),
    pollMs: ns.poll_interval === undefined ? null : ms(ns.poll_interval),
    logLevel: ns.log_level,
    logFormat: ns.log_format,
    batchSize: ns.batch_size ?? (ns.rolling ? 1 : null),
    startTimeoutMs: ms(ns.start_timeout),
    catchUp: !ns.no_catch_up,
    revive: ns.revive,
    dryRun: ns.dry_run,
    updateConfig: ns.update_config,
    readyCheck: ns.ready_check ?? null,
    readyUrl: ns.ready_url ?? null,
    readyIntervalMs: ms(ns.ready_interval),
    readyTimeoutMs: ms(ns.ready_timeout),
    configurationFile: ns.configuration ?? null,
    serverUrlExplicit: ns.serverurl !== undefined,
    usernameExplicit: ns.username !== undefined,
    fleet: fleetUrl === null ? null : {
      url: fleetUrl,
      password: env.RELEASEMON_FLEET_PASSWORD || null,
      name: ns.fleet_name,
      hostId: ns.fleet_id ?? null,
      maxParallel: ns.fleet_max,
      canary: ns.fleet_canary,
      onError: ns.fleet_on_error,
      timeoutMs: ms(ns.fleet_timeout),
      leaseMs: ms(ns.fleet_lease),
    },
    fleetMode,
    check: ns.check,
    status: ns.status,
    selfProcessName: env.SUPERVISOR_PROCESS_NAME || null,
    selfGroupName: env.SUPERVISOR_GROUP_NAME || null,
  };
  return { kind: "run", config, usage };
}
