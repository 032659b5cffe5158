/**
 * The reference for `lib/_argv.ts`: npm argparse (a test-only dependency) built from releasemon's
 * own table of arguments (`lib/_config_parser.ts` `ARGUMENTS`), exactly as releasemon built it
 * before it had its own parser. The differential tests compare both on the same command lines.
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
  RawDescriptionHelpFormatter,
  SUPPRESS,
} from "argparse";
// argparse's own port of Python's textwrap, which its help formatter uses (no type declarations).
import textwrap from "argparse/lib/textwrap.js";
import { type ArgvArgument, ArgvValueError } from "../../lib/_argv_types.ts";
import type { ArgvTheme } from "../../lib/_argv_help.ts";
import { ARGUMENTS, HELP_TEXT } from "../../lib/_config_parser.ts";
import { NO_THEME, THEME } from "../../lib/config_help.ts";

/** What a command line asked for, in a form both parsers can be compared on. */
export type ReferenceOutcome =
  | { kind: "parsed"; values: Record<string, unknown> }
  | { kind: "stopped"; dest: string }
  | { kind: "error"; message: string };

class _Stop extends Error {
  constructor(readonly dest: string) {
    super(dest);
  }
}

/** argparse's parser with every path that would print or exit turned into an exception. */
class _Parser extends ArgumentParser {
  override exit(status = 0, message?: string): never {
    throw new ArgumentError(undefined, message ?? `argparse asked to exit with status ${status}`);
  }
  override error(message: string): never {
    throw new ArgumentError(undefined, message);
  }
}

function _decolor(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** argparse's formatter with a fixed width (no COLUMNS lookup) and colours decided by the caller. */
class _Formatter extends RawDescriptionHelpFormatter {
  declare _theme: Readonly<ArgvTheme>;
  declare _decolor: (text: string) => string;
  constructor(options: HelpFormatterOptions) {
    super({ ...options, width: HELP_TEXT.width });
  }
  // Replaces argparse's own check, which reads the environment and asks whether stdout is a
  // terminal: the caller's `color` decides instead.
  _set_color(color: boolean): void {
    this._theme = color ? THEME : NO_THEME;
    this._decolor = color ? _decolor : (text) => text;
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

/** Our value type as an argparse type: our ArgvValueError becomes argparse's ArgumentTypeError. */
function _type(type: (text: string) => unknown) {
  return (text: string): unknown => {
    try {
      return type(text);
    } catch (error) {
      if (error instanceof ArgvValueError) throw new ArgumentTypeError(error.message);
      throw error;
    }
  };
}

/** The argparse options that mean what `argument` means to lib/_argv.ts. */
function _options(argument: ArgvArgument): ArgumentOptions {
  const options: ArgumentOptions = {};
  const dest = argument.names.find((name) => name.startsWith("--"))?.slice(2) ?? "";
  switch (argument.action ?? "store") {
    case "stop":
      options.action = _stopAction(() => new _Stop(dest));
      break;
    case "refuse":
      options.action = _stopAction(() => new ArgumentError(undefined, argument.message!));
      break;
    case "store_true":
      options.action = "store_true";
      break;
    case "append":
      options.action = "append";
      break;
  }
  if (argument.nargs !== undefined) options.nargs = argument.nargs;
  if ("const" in argument) options.const = argument.const;
  if ("default" in argument) options.default = argument.default;
  if (argument.choices) options.choices = [...argument.choices];
  if (argument.type) options.type = _type(argument.type);
  if (argument.metavar !== undefined) options.metavar = argument.metavar;
  if (argument.help !== undefined) options.help = argument.help ?? SUPPRESS;
  return options;
}

/** The argparse parser for `args` (default: releasemon's); `color`: help and usage colours. */
export function buildReference(
  color: boolean,
  args: readonly ArgvArgument[] = ARGUMENTS,
): ArgumentParser {
  const parser = new _Parser({
    prog: HELP_TEXT.prog,
    usage: HELP_TEXT.usage,
    description: HELP_TEXT.description,
    epilog: HELP_TEXT.epilog,
    formatter_class: _Formatter,
    add_help: false,
    exit_on_error: false,
    color,
  });
  const groups = new Map<string, ActionsContainer>([["", parser]]);
  const exclusive = new Map<string, ActionsContainer>();
  for (const argument of args) {
    const section = argument.section ?? "";
    let container = groups.get(section);
    if (!container) groups.set(section, container = parser.add_argument_group({ title: section }));
    if (argument.exclusive !== undefined) {
      let group = exclusive.get(argument.exclusive);
      if (!group) {
        const owner = container as ArgumentParser; // argparse groups have this method too
        exclusive.set(argument.exclusive, group = owner.add_mutually_exclusive_group());
      }
      container = group;
    }
    const add = container.add_argument as (...args: unknown[]) => unknown;
    add.call(container, ...argument.names, _options(argument));
  }
  return parser;
}

/** `argv` parsed by argparse as releasemon used it (`parse_intermixed_args`). */
export function parseWithReference(
  parser: ArgumentParser,
  argv: readonly string[],
): ReferenceOutcome {
  try {
    const values = { ...parser.parse_intermixed_args([...argv]) } as Record<string, unknown>;
    return { kind: "parsed", values };
  } catch (error) {
    if (error instanceof _Stop) return { kind: "stopped", dest: error.dest };
    if (error instanceof ArgumentError) return { kind: "error", message: error.message };
    throw error;
  }
}

/** `text` wrapped to `width` by argparse's `textwrap.wrap`, as its help formatter does. */
export function wrapWithReference(text: string, width: number): string[] {
  return (textwrap as { wrap(text: string, options: { width: number }): string[] }).wrap(text, {
    width,
  });
}
