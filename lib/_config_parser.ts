/**
 * releasemon's command line as data: every flag with its section, metavar, type, default and help
 * (help texts from `config_help.ts`), parsed by `_argv.ts` and laid out by `_argv_help.ts` as
 * argparse did. Pure: no `Deno.*`.
 *
 * @module
 */
import { parseArgv } from "./_argv.ts";
import { type ArgvArgument, destOf } from "./_argv_types.ts";
import { type ArgvHelpText, formatHelp, formatUsage } from "./_argv_help.ts";
import { DESCRIPTION, EPILOG, HELP, HELP_WIDTH, NO_THEME, THEME, USAGE } from "./config_help.ts";
import {
  flagType,
  fleetNameType,
  fleetUrlType,
  groupType,
  readyUrlType,
  type SecondsRule,
  secondsType,
  serverUrlType,
  wholeNumberType,
} from "./_config_values.ts";

/** `--log-level` choices. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A `--log-level`. */
export type LogLevel = typeof LOG_LEVELS[number];

type _Options = Omit<ArgvArgument, "names" | "section">;

const _PASSWORD_REFUSED = "argument -p/--password: there is no password flag, because other " +
  "users could read it in the process list; set SUPERVISOR_PASSWORD or use --password-file FILE";
const _CHECK_HELP = "do everything but watch: reach supervisord (and Redis with --fleet), " +
  "resolve the programs, read PATH, look up the hooks; print the plan and every problem, " +
  "restart nothing, exit 0 (usable), 2 (configuration problem) or 1 (cannot connect)";
const _STATUS_HELP = "print the version in PATH and whether each target runs it (current, " +
  "stale or down), exit 0 (all current), 3 (some not current), 2 or 1 as for --check";
const _DISABLE_HINT = "; to disable without a value, put --disable last or write --disable=yes";

/** Every argument as [section, names, options]; help comes from `HELP[dest]` unless given. */
function _table(): [string, string[], _Options][] {
  const [restart, programs] = ["restart", "programs"];
  const [server, watching] = ["supervisord connection", "watching and logging"];
  const fleet = "fleet rollouts (Redis)";
  const readiness = "readiness (after a program is RUNNING again)";
  const secs = (rule: SecondsRule, dflt?: number): _Options => ({
    metavar: "SECONDS",
    type: secondsType(rule),
    default: dflt,
  });
  const [delay, positive] = [{ zero: true }, {}];
  const disable = {
    metavar: "FLAG",
    nargs: "?" as const,
    const: true,
    type: flagType(_DISABLE_HINT),
    exclusive: "enabling",
  };
  return [
    ["", ["-h", "--help"], { action: "stop" }],
    ["", ["--version"], { action: "stop" }],
    ["", ["--check"], { action: "store_true", help: _CHECK_HELP }],
    ["", ["--status"], { action: "store_true", help: _STATUS_HELP }],
    ["", ["-e", "--enable"], { metavar: "FLAG", type: flagType(""), exclusive: "enabling" }],
    ["", ["--disable"], disable],
    [restart, ["-rd", "--random-delay"], secs(delay, 0)],
    [restart, ["-fd", "--fixed-delay"], secs(delay, 0)],
    [restart, ["--running-only"], { action: "store_true" }],
    [restart, ["-pre", "--pre-restart"], { metavar: "COMMAND" }],
    [restart, ["-post", "--post-restart"], { metavar: "COMMAND" }],
    [restart, ["--hook-timeout"], secs(positive, 60)],
    [restart, ["--rolling"], { action: "store_true" }],
    [restart, ["--batch-size"], { metavar: "N", type: wholeNumberType(1, " of programs") }],
    [restart, ["--start-timeout"], secs(positive, 60)],
    [restart, ["--no-catch-up"], { action: "store_true" }],
    [restart, ["--revive"], { action: "store_true" }],
    [restart, ["--dry-run"], { action: "store_true" }],
    [restart, ["--update-config"], { action: "store_true" }],
    [readiness, ["--ready-check"], { metavar: "COMMAND" }],
    [readiness, ["--ready-url"], { metavar: "URL", type: readyUrlType }],
    [readiness, ["--ready-interval"], secs(positive, 0.5)],
    [readiness, ["--ready-timeout"], secs(positive, 60)],
    [programs, ["path"], { metavar: "PATH", nargs: "?" }],
    [programs, ["program"], { metavar: "PROG", nargs: "*" }],
    [programs, ["-g", "--group"], { metavar: "GROUP", action: "append", type: groupType }],
    [programs, ["-a", "--any"], { action: "store_true" }],
    [server, ["-c", "--configuration"], { metavar: "FILE" }],
    [server, ["-s", "--serverurl"], { metavar: "URL", type: serverUrlType }],
    [server, ["-u", "--username"], { metavar: "NAME" }],
    [server, ["--password-file"], { metavar: "FILE" }],
    [server, ["-p", "--password"], {
      action: "refuse",
      nargs: "?",
      help: null,
      message: _PASSWORD_REFUSED,
    }],
    [server, ["--rpc-timeout"], secs(positive, 10)],
    [fleet, ["--fleet"], { metavar: "URL", type: fleetUrlType }],
    [fleet, ["--fleet-name"], { metavar: "NAME", default: "releasemon", type: fleetNameType }],
    [fleet, ["--fleet-id"], { metavar: "ID", type: fleetNameType }],
    [fleet, ["--fleet-max"], {
      metavar: "N",
      type: wholeNumberType(1, " of programs"),
      default: 1,
    }],
    [fleet, ["--fleet-canary"], { metavar: "N", type: wholeNumberType(0, ""), default: 0 }],
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

/** Every argument of releasemon, in the order argparse was given them. */
export const ARGUMENTS: readonly ArgvArgument[] = _table().map(([section, names, options]) => ({
  names,
  section,
  help: HELP[destOf({ names })] ?? "",
  ...options,
}));

/** The help text's parts besides the arguments. */
export const HELP_TEXT: ArgvHelpText = {
  prog: "releasemon",
  usage: USAGE,
  description: DESCRIPTION,
  epilog: EPILOG,
  width: HELP_WIDTH,
};

/** The values of the flags and positionals, by argparse dest; unset ones are undefined. */
export interface Flags {
  check: boolean;
  status: boolean;
  enable?: boolean;
  disable?: boolean;
  random_delay: number;
  fixed_delay: number;
  running_only: boolean;
  pre_restart?: string;
  post_restart?: string;
  hook_timeout: number;
  rolling: boolean;
  batch_size?: number;
  start_timeout: number;
  no_catch_up: boolean;
  revive: boolean;
  dry_run: boolean;
  update_config: boolean;
  ready_check?: string;
  ready_url?: string;
  ready_interval: number;
  ready_timeout: number;
  path?: string;
  program: string[];
  group?: string[];
  any: boolean;
  configuration?: string;
  serverurl?: string;
  username?: string;
  password_file?: string;
  rpc_timeout: number;
  fleet?: string;
  fleet_name: string;
  fleet_id?: string;
  fleet_max: number;
  fleet_canary: number;
  fleet_on_error: "wait" | "proceed";
  fleet_timeout: number;
  fleet_lease: number;
  fleet_status: boolean;
  fleet_resume: boolean;
  settle: number;
  recheck_interval: number;
  poll_interval?: number;
  log_level: LogLevel;
  log_format: "text" | "json";
}

/** What the command line asked for, before the checks across flags (config.ts). */
export type FlagsOutcome = { kind: "flags"; flags: Flags } | { kind: "help" } | {
  kind: "version";
};

/**
 * Parses releasemon's command line.
 *
 * @throws {import("./_argv_types.ts").ArgvError} with argparse's message when it is wrong
 */
export function parseFlags(argv: readonly string[]): FlagsOutcome {
  const outcome = parseArgv(ARGUMENTS, argv);
  if (outcome.kind === "stopped") return { kind: outcome.dest === "help" ? "help" : "version" };
  return { kind: "flags", flags: outcome.values as unknown as Flags };
}

/** The usage line (no newline); `color`: with ANSI colours. */
export function usageLine(color: boolean): string {
  return formatUsage(HELP_TEXT, color ? THEME : NO_THEME).trimEnd();
}

/** The whole help text; `color`: with ANSI colours. */
export function helpText(color: boolean): string {
  return formatHelp(HELP_TEXT, ARGUMENTS, color ? THEME : NO_THEME);
}
