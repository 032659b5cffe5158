/**
 * releasemon's argparse parser: every flag with its section, metavar, type and default (help
 * texts come from `config_help.ts`), and argparse's printing and exiting turned into exceptions.
 * Pure: no `Deno.*`.
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
  type HelpFormatterOptions,
  RawDescriptionHelpFormatter,
  SUPPRESS,
} from "argparse";
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

/** Thrown by the parser when `-h/--help` is given. */
export class HelpRequested extends Error {}
/** Thrown by the parser when `--version` is given. */
export class VersionRequested extends Error {}

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
  const readiness = "readiness (after a program is RUNNING again)";
  const secs = (rule: SecondsRule, dflt?: number): ArgumentOptions => ({
    metavar: "SECONDS",
    type: secondsType(rule),
    default: dflt,
  });
  const [delay, positive] = [{ zero: true }, {}];
  const password = () => new ArgumentError(undefined, _PASSWORD_REFUSED);
  const disable = {
    metavar: "FLAG",
    nargs: "?" as const,
    const: true,
    type: flagType(_DISABLE_HINT),
  };
  return [
    ["", ["-h", "--help"], { action: _stopAction(() => new HelpRequested()) }],
    ["", ["--version"], { action: _stopAction(() => new VersionRequested()) }],
    ["", ["--check"], { action: "store_true", help: _CHECK_HELP }],
    ["", ["--status"], { action: "store_true", help: _STATUS_HELP }],
    ["enabling", ["-e", "--enable"], { metavar: "FLAG", type: flagType("") }],
    ["enabling", ["--disable"], disable],
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
    [server, ["-p", "--password"], { action: _stopAction(password), nargs: "?", help: SUPPRESS }],
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

/** The parser; `color`: whether help and usage may hold ANSI colours. */
export function buildParser(color: boolean): ArgumentParser {
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
