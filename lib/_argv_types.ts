/**
 * The types of `_argv.ts`: an argument's description, the outcome of parsing, the two errors,
 * and how an argument is named. Pure.
 *
 * @module
 */

/** Thrown by a value type: the text given is not a valid value; `message` says why. */
export class ArgvValueError extends Error {
  override name = "ArgvValueError";
}

/** The command line is wrong; `message` is argparse's wording ("argument -x/--xx: ..."). */
export class ArgvError extends Error {
  override name = "ArgvError";
}

/** One argument of a parser: an option (names start with "-") or a positional (one bare name). */
export interface ArgvArgument {
  /** Option strings ("-rd", "--random-delay"), or the positional's name. */
  names: readonly string[];
  /** What to do with it. @default "store" */
  action?: "store" | "store_true" | "append" | "stop" | "refuse";
  /** "?": zero or one value (an option then gets `const`); "*": any number (positionals). */
  nargs?: "?" | "*";
  const?: unknown;
  default?: unknown;
  choices?: readonly string[];
  /** Turns the text into the value; throws {@link ArgvValueError} to refuse it. */
  type?: (text: string) => unknown;
  metavar?: string;
  /** The help text; `null` hides the argument from help. */
  help?: string | null;
  /** Help section title; "" or absent: the parser's own "options". */
  section?: string;
  /** Arguments sharing this name are mutually exclusive. */
  exclusive?: string;
  /** With `action: "refuse"`: the whole error message. */
  message?: string;
}

/** What a command line asked for: values by dest, or a stop (help, version) by its dest. */
export type ArgvOutcome =
  | { kind: "parsed"; values: Record<string, unknown> }
  | { kind: "stopped"; dest: string };

/** argparse's name for an argument's values: "random_delay" for "-rd", "--random-delay". */
export function destOf(argument: ArgvArgument): string {
  const name = argument.names.find((name) => name.startsWith("--")) ?? argument.names[0] ?? "";
  return name.replace(/^-+/, "").replaceAll("-", "_");
}

/** How an argument is named in an error: "-rd/--random-delay", or a positional's metavar. */
export function displayName(argument: ArgvArgument): string {
  return isOption(argument) ? argument.names.join("/") : argument.metavar ?? destOf(argument);
}

/** How many values an option takes when none is attached: 1 (store, append), "?" or 0. */
export function arity(argument: ArgvArgument): 0 | 1 | "?" {
  const action = argument.action ?? "store";
  if (argument.nargs === "?") return "?";
  return action === "store" || action === "append" ? 1 : 0;
}

export function isOption(argument: ArgvArgument): boolean {
  return argument.names[0]?.startsWith("-") ?? false;
}
