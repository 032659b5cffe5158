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
import {
  Action,
  type ActionConstructorOptions,
  type ActionsContainer,
  ArgumentError,
  type ArgumentOptions,
  ArgumentParser,
  ArgumentTypeError,
  type HelpFormatterOptions,
  type Namespace,
  RawDescriptionHelpFormatter,
  SUPPRESS,
} from "argparse";
import { DEFAULT_SERVER_URL } from "./config_defaults.ts";
import {
  decolor,
  DESCRIPTION,
  EPILOG,
  HELP,
  HELP_WIDTH,
  NO_THEME,
  THEME,
  USAGE,
} from "./config_help.ts";
import { redactUrl, UsageError } from "./errors.ts";
import { absolutePath } from "./watch/path_chain.ts";

/** releasemon's version, shown by `--version`; keep in step with `deno.json`. */
export const VERSION = "0.1.0";
export { DEFAULT_SERVER_URL };

const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;

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
  logLevel: typeof LOG_LEVELS[number];
  logFormat: "text" | "json";
  batchSize: number | null; // --rolling / --batch-size: restart N at a time, halt on a failure
  startTimeoutMs: number; // how long a restarted program may take to reach RUNNING
  catchUp: boolean; // at start, restart targets that started before the current version appeared
  revive: boolean; // also start targets in FATAL or BACKOFF
  dryRun: boolean; // log what would be restarted instead of restarting
  updateConfig: boolean; // apply changed program definitions (reloadConfig) before restarting
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
  | { kind: "run"; config: Config }
  | { kind: "help"; text: string }
  | { kind: "version"; text: string };

/** Longest timer: setTimeout holds at most 2^31-1 ms (about 24.8 days) and fires at once beyond. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest duration flag in seconds, so that it fits {@link MAX_TIMER_MS}. */
const MAX_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
/** Shortest non-zero duration: 1 ms, the resolution everything inside works in. */
const MIN_SECONDS = 0.001;
const TRUE_WORDS = ["1", "true", "yes", "on"];
const FALSE_WORDS = ["0", "false", "no", "off"];
const FLAG_WORDS = "1/0, true/false, yes/no or on/off";

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
  const parser = _buildParser(options.color);
  const usage = parser.format_usage().trimEnd();
  const fail = (message: string): never => {
    throw new UsageError(message, { usage });
  };
  let ns: Namespace;
  try {
    ns = parser.parse_intermixed_args(argv);
  } catch (error) {
    if (error instanceof _HelpRequested) return { kind: "help", text: parser.format_help() };
    if (error instanceof _VersionRequested) {
      return { kind: "version", text: `releasemon ${VERSION}` };
    }
    if (error instanceof ArgumentError) return fail(error.message);
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
        `argument PROG: ${_quote(program)} looks like a path, not a program name: PATH (the ` +
          "version file) must be the first positional argument, before PROG",
      );
    }
    if (!_isNamespec(program)) {
      fail(
        `argument PROG: invalid program name ${_quote(program)}: use "name", "group:name" or ` +
          `"group:*" (no whitespace, at most one colon)`,
      );
    }
  }
  if (ns.any && programs.length > 0) fail("argument -a/--any: not allowed with PROG");
  if (ns.any && groups.length > 0) fail("argument -a/--any: not allowed with argument -g/--group");
  if (!fleetMode && !ns.any && programs.length === 0 && groups.length === 0) {
    fail("nothing to restart: name programs (PROG), groups (-g/--group GROUP) or all (-a/--any)");
  }

  if (_ms(ns.fixed_delay) + _ms(ns.random_delay) > MAX_TIMER_MS) {
    fail(
      `argument -rd/--random-delay: -fd plus -rd must be at most ${MAX_SECONDS} seconds (about ` +
        `24 days), got ${ns.fixed_delay} + ${ns.random_delay}`,
    );
  }
  const urlFromEnv = env.SUPERVISOR_SERVER_URL || null;
  const urlProblem = ns.serverurl === undefined && urlFromEnv && _serverUrlProblem(urlFromEnv);
  if (urlProblem) fail(`environment variable SUPERVISOR_SERVER_URL: ${urlProblem}`);

  const config: Config = {
    versionFile,
    programs,
    groups,
    any: ns.any,
    enabled: ns.disable === undefined ? ns.enable ?? true : !ns.disable,
    fixedDelayMs: _ms(ns.fixed_delay),
    randomDelayMs: _ms(ns.random_delay),
    runningOnly: ns.running_only,
    preRestart: ns.pre_restart ?? null,
    postRestart: ns.post_restart ?? null,
    hookTimeoutMs: _ms(ns.hook_timeout),
    serverUrl: ns.serverurl ?? urlFromEnv ?? DEFAULT_SERVER_URL,
    username: ns.username ?? (env.SUPERVISOR_USERNAME || null),
    password: env.SUPERVISOR_PASSWORD || null,
    passwordFile: ns.password_file ?? null,
    rpcTimeoutMs: _ms(ns.rpc_timeout),
    settleMs: _ms(ns.settle),
    recheckMs: _ms(ns.recheck_interval),
    pollMs: ns.poll_interval === undefined ? null : _ms(ns.poll_interval),
    logLevel: ns.log_level,
    logFormat: ns.log_format,
    batchSize: ns.batch_size ?? (ns.rolling ? 1 : null),
    startTimeoutMs: _ms(ns.start_timeout),
    catchUp: !ns.no_catch_up,
    revive: ns.revive,
    dryRun: ns.dry_run,
    updateConfig: ns.update_config,
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
      timeoutMs: _ms(ns.fleet_timeout),
      leaseMs: _ms(ns.fleet_lease),
    },
    fleetMode,
    check: ns.check,
    status: ns.status,
    selfProcessName: env.SUPERVISOR_PROCESS_NAME || null,
    selfGroupName: env.SUPERVISOR_GROUP_NAME || null,
  };
  return { kind: "run", config };
}

class _HelpRequested extends Error {}
class _VersionRequested extends Error {}

/** argparse's parser with every path that would print or exit turned into an exception. */
class _Parser extends ArgumentParser {
  override exit(status = 0, message?: string): never {
    throw new ArgumentError(undefined, message ?? `argparse asked to exit with status ${status}`);
  }
  override error(message: string): never {
    throw new ArgumentError(undefined, message);
  }
}

/** argparse's formatter with a fixed width (no COLUMNS lookup) and colours decided by the caller. */
class _Formatter extends RawDescriptionHelpFormatter {
  declare _theme: Readonly<Record<string, string>>;
  declare _decolor: (text: string) => string;
  constructor(options: HelpFormatterOptions) {
    super({ ...options, width: HELP_WIDTH });
  }
  // Replaces argparse's own check, which reads the environment and asks whether stdout is a
  // terminal (under Deno it says yes for pipes): `options.color` from main.ts decides instead.
  _set_color(color: boolean): void {
    this._theme = color ? THEME : NO_THEME;
    this._decolor = color ? decolor : (text) => text;
  }
}

/** An option that stops parsing by throwing (help, version, the refused password flag). */
function _stopAction(makeError: () => Error) {
  return class extends Action {
    constructor({ option_strings, nargs = 0, help }: ActionConstructorOptions) {
      super({ option_strings, dest: SUPPRESS, default: SUPPRESS, nargs, help: help ?? SUPPRESS });
    }
    override call(): never {
      throw makeError();
    }
  };
}

const _PASSWORD_REFUSED = "argument -p/--password: there is no password flag, because other " +
  "users could read it in the process list; set SUPERVISOR_PASSWORD or use --password-file FILE";
const _CHECK_HELP = "do everything but watch: reach supervisord (and Redis with --fleet), " +
  "resolve the programs, read PATH, look up the hooks; print the plan and every problem, " +
  "restart nothing, exit 0 (usable), 2 (configuration problem) or 1 (cannot connect)";
const _STATUS_HELP = "print the version in PATH and whether each target runs it (current, " +
  "stale or down), exit 0 (all current), 3 (some not current), 2 or 1 as for --check";
const _DISABLE_HINT = "; to disable without a value, put --disable last or write --disable=yes";

/** Every argument as [section, names, options]; help comes from `HELP[dest]`. */
function _arguments(): [string, string[], ArgumentOptions][] {
  const [restart, programs] = ["restart", "programs"];
  const [server, watching] = ["supervisord connection", "watching and logging"];
  const fleet = "fleet rollouts (Redis)";
  const secs = (rule: _SecondsRule, dflt?: number): ArgumentOptions => ({
    metavar: "SECONDS",
    type: _secondsType(rule),
    default: dflt,
  });
  const [delay, positive] = [{ zero: true }, {}];
  const password = () => new ArgumentError(undefined, _PASSWORD_REFUSED);
  const disable = {
    metavar: "FLAG",
    nargs: "?" as const,
    const: true,
    type: _flagType(_DISABLE_HINT),
  };
  return [
    ["", ["-h", "--help"], { action: _stopAction(() => new _HelpRequested()) }],
    ["", ["--version"], { action: _stopAction(() => new _VersionRequested()) }],
    ["", ["--check"], { action: "store_true", help: _CHECK_HELP }],
    ["", ["--status"], { action: "store_true", help: _STATUS_HELP }],
    ["enabling", ["-e", "--enable"], { metavar: "FLAG", type: _flagType("") }],
    ["enabling", ["--disable"], disable],
    [restart, ["-rd", "--random-delay"], secs(delay, 0)],
    [restart, ["-fd", "--fixed-delay"], secs(delay, 0)],
    [restart, ["--running-only"], { action: "store_true" }],
    [restart, ["-pre", "--pre-restart"], { metavar: "COMMAND" }],
    [restart, ["-post", "--post-restart"], { metavar: "COMMAND" }],
    [restart, ["--hook-timeout"], secs(positive, 60)],
    [restart, ["--rolling"], { action: "store_true" }],
    [restart, ["--batch-size"], { metavar: "N", type: _wholeNumberType(1, " of programs") }],
    [restart, ["--start-timeout"], secs(positive, 60)],
    [restart, ["--no-catch-up"], { action: "store_true" }],
    [restart, ["--revive"], { action: "store_true" }],
    [restart, ["--dry-run"], { action: "store_true" }],
    [restart, ["--update-config"], { action: "store_true" }],
    [programs, ["path"], { metavar: "PATH", nargs: "?" }],
    [programs, ["program"], { metavar: "PROG", nargs: "*" }],
    [programs, ["-g", "--group"], { metavar: "GROUP", action: "append", type: _groupType }],
    [programs, ["-a", "--any"], { action: "store_true" }],
    [server, ["-c", "--configuration"], { metavar: "FILE" }],
    [server, ["-s", "--serverurl"], { metavar: "URL", type: _serverUrlType }],
    [server, ["-u", "--username"], { metavar: "NAME" }],
    [server, ["--password-file"], { metavar: "FILE" }],
    [server, ["-p", "--password"], { action: _stopAction(password), nargs: "?", help: SUPPRESS }],
    [server, ["--rpc-timeout"], secs(positive, 10)],
    [fleet, ["--fleet"], { metavar: "URL", type: _fleetUrlType }],
    [fleet, ["--fleet-name"], { metavar: "NAME", default: "releasemon", type: _fleetNameType }],
    [fleet, ["--fleet-id"], { metavar: "ID", type: _fleetNameType }],
    [fleet, ["--fleet-max"], {
      metavar: "N",
      type: _wholeNumberType(1, " of programs"),
      default: 1,
    }],
    [fleet, ["--fleet-canary"], { metavar: "N", type: _wholeNumberType(0, ""), default: 0 }],
    [fleet, ["--fleet-on-error"], { choices: ["wait", "proceed"], default: "wait" }],
    [fleet, ["--fleet-timeout"], secs(positive, 60)],
    [fleet, ["--fleet-lease"], secs({ min: 1 }, 30)],
    [fleet, ["--fleet-status"], { action: "store_true" }],
    [fleet, ["--fleet-resume"], { action: "store_true" }],
    [watching, ["--settle"], secs({ min: 0.01, max: 5 }, 0.2)],
    [watching, ["--recheck-interval"], secs(delay, 10)],
    [watching, ["--poll-interval"], secs(positive)],
    [watching, ["--log-level"], { choices: [...LOG_LEVELS], default: "info" }],
    [watching, ["--log-format"], { choices: ["text", "json"], default: "text" }],
  ];
}

function _buildParser(color: boolean): ArgumentParser {
  const parser = new _Parser({
    prog: "releasemon",
    usage: USAGE,
    description: DESCRIPTION,
    epilog: EPILOG,
    formatter_class: _Formatter,
    add_help: false,
    exit_on_error: false,
    color,
  });
  const sections = new Map<string, ActionsContainer>([
    ["", parser],
    ["enabling", parser.add_mutually_exclusive_group()],
  ]);
  for (const [section, names, options] of _arguments()) {
    let container = sections.get(section);
    if (!container) {
      sections.set(section, container = parser.add_argument_group({ title: section }));
    }
    const dest = names.at(-1)!.replace(/^-+/, "").replaceAll("-", "_");
    const add = container.add_argument as (...args: unknown[]) => unknown;
    add.call(container, ...names, { help: HELP[dest], ...options });
  }
  return parser;
}

/** FLAG: 1/0, true/false, yes/no, on/off, in any case, surrounding whitespace ignored. */
function _flagType(hint: string) {
  return (text: string): boolean => {
    const word = text.trim().toLowerCase();
    if (TRUE_WORDS.includes(word)) return true;
    if (FALSE_WORDS.includes(word)) return false;
    if (word === "") {
      throw new ArgumentTypeError(
        `FLAG is empty: use ${FLAG_WORDS} (in supervisord.conf an empty value usually means ` +
          `the environment variable behind %(ENV_...)s is unset)`,
      );
    }
    throw new ArgumentTypeError(`invalid FLAG ${_quote(text)}: use ${FLAG_WORDS}${hint}`);
  };
}

/**
 * What a SECONDS flag accepts. Everything inside works in whole ms and timers hold at most
 * {@link MAX_TIMER_MS}, so a value that would round to 0 ms, or overflow a timer, is refused.
 */
interface _SecondsRule {
  /** 0 is allowed (it means "none"). @default false */
  zero?: boolean;
  /** Smallest non-zero value. @default MIN_SECONDS */
  min?: number;
  /** Largest value. @default MAX_SECONDS */
  max?: number;
}

/** The one validator of durations: SECONDS, a finite decimal number within `rule`. */
function _secondsType(rule: _SecondsRule) {
  const { zero = false, min = MIN_SECONDS, max = MAX_SECONDS } = rule;
  return (text: string): number => {
    const trimmed = text.trim();
    const value = /^(\d+(\.\d*)?|\.\d+)$/.test(trimmed) ? Number(trimmed) : NaN;
    const got = `got ${_quote(text)}`;
    if (Number.isNaN(value) || (value === 0 && !zero && min <= MIN_SECONDS)) {
      const kind = zero ? "a non-negative" : "a positive";
      throw new ArgumentTypeError(`must be ${kind} number of seconds, ${got}`);
    }
    if (max !== MAX_SECONDS && (value < min || value > max)) {
      throw new ArgumentTypeError(`must be between ${min} and ${max} seconds, ${got}`);
    }
    if (value < min && !(zero && value === 0)) {
      const floor = `at least ${min} second${min === 1 ? "" : "s"}`;
      throw new ArgumentTypeError(`must be ${zero ? `0 or ${floor}` : floor}, ${got}`);
    }
    if (value > max) {
      throw new ArgumentTypeError(`must be at most ${max} seconds (about 24 days), ${got}`);
    }
    return value;
  };
}

/** The one validator of counts: N, a whole number from `min` to a million. */
function _wholeNumberType(min: number, of: string) {
  const bound = min === 0 ? "0 or more" : `${min} or more`;
  return (text: string): number => {
    const trimmed = text.trim();
    if (!/^\d+$/.test(trimmed) || Number(trimmed) < min || Number(trimmed) > 1_000_000) {
      throw new ArgumentTypeError(`must be a whole number${of}, ${bound}, got ${_quote(text)}`);
    }
    return Number(trimmed);
  };
}

function _fleetUrlType(text: string): string {
  if (!/^rediss?:\/\/[^\s]+$/.test(text)) {
    throw new ArgumentTypeError(
      `cannot use fleet URL ${_quote(redactUrl(text))}: ` +
        "it must be redis://host:port/db or rediss://host:port/db",
    );
  }
  if (/^rediss?:\/\/[^/]*@/.test(text)) {
    throw new ArgumentTypeError(
      `cannot use fleet URL ${_quote(redactUrl(text))}: credentials ` +
        "in the URL would show in the process list; put the password in RELEASEMON_FLEET_PASSWORD",
    );
  }
  return text;
}

function _fleetNameType(text: string): string {
  if (!/^[A-Za-z0-9._@-]{1,128}$/.test(text)) {
    throw new ArgumentTypeError(
      `invalid name ${_quote(text)}: use 1-128 letters, digits, ".", "_", "@" or "-"`,
    );
  }
  return text;
}

function _groupType(text: string): string {
  if (text === "" || text.includes(":") || /[\s\p{Cc}]/u.test(text)) {
    throw new ArgumentTypeError(
      `invalid group name ${_quote(text)}: must be non-empty, without whitespace or colons`,
    );
  }
  return text;
}

function _serverUrlType(text: string): string {
  const problem = _serverUrlProblem(text);
  if (problem) throw new ArgumentTypeError(problem);
  return text;
}

/** A light shape check; lib/supervisor/server_url.ts parses the URL properly. */
function _serverUrlProblem(url: string): string | null {
  if (/^unix:\/\/\S+$/.test(url) || /^http:\/\/[^\s/]+(\/\S*)?$/.test(url)) return null;
  return `cannot use server URL ${
    _quote(redactUrl(url))
  }: it must be unix:///path/to/socket or http://host:port`;
}

/** `name`, `group:name` or `group:*`: non-empty parts, no whitespace, at most one colon. */
function _isNamespec(text: string): boolean {
  if (/[\s\p{Cc}]/u.test(text)) return false;
  const parts = text.split(":");
  if (parts.length > 2 || parts.some((part) => part === "")) return false;
  return parts[0] !== "*"; // "*" means every program of a group, so it needs one: "group:*"
}

function _ms(seconds: number): number {
  return Math.round(seconds * 1000);
}

function _quote(text: string): string {
  return JSON.stringify(text);
}
