/**
 * The usage line and help text for `_argv.ts`'s arguments, laid out as argparse's
 * `RawDescriptionHelpFormatter` does with a given usage string: description and epilog as
 * written, one section per argument group ("options" first), each argument's names and metavar
 * in a 24-column gutter and its help wrapped to the width. Pure.
 *
 * @module
 */
import { type ArgvArgument, arity, destOf, isOption } from "./_argv_types.ts";

/** No colours: every slot empty. */
export const PLAIN_THEME: Readonly<ArgvTheme> = {
  usage: "",
  prog: "",
  prog_extra: "",
  heading: "",
  long_option: "",
  short_option: "",
  label: "",
  action: "",
  reset: "",
};

/** The colours of each part, as ANSI escapes ("" for none). */
export interface ArgvTheme {
  usage: string;
  prog: string;
  prog_extra: string;
  heading: string;
  long_option: string;
  short_option: string;
  label: string;
  action: string;
  reset: string;
}

/** What the help is made of besides the arguments. */
export interface ArgvHelpText {
  prog: string;
  /** The usage line after "usage: "; "%(prog)s" stands for `prog`, "%%" for "%". */
  usage: string;
  description: string;
  epilog: string;
  width: number;
}

const _INDENT = 2;
const _MAX_HELP_POSITION = 24;

/** "usage: " and the usage line, ending in a newline (argparse's `format_usage()`). */
export function formatUsage(text: ArgvHelpText, theme: ArgvTheme): string {
  return _finish(_usage(text, theme));
}

/** The whole help text (argparse's `format_help()`). */
export function formatHelp(
  text: ArgvHelpText,
  args: readonly ArgvArgument[],
  theme: ArgvTheme,
): string {
  const shown = args.filter((argument) => argument.help !== null);
  const sections = new Map<string, ArgvArgument[]>([["", []]]);
  for (const argument of shown) {
    const title = argument.section ?? "";
    sections.set(title, [...sections.get(title) ?? [], argument]);
  }
  const longest = Math.max(...shown.map((argument) => _invocation(argument, PLAIN_THEME).length));
  const helpPosition = Math.min(longest + _INDENT + 2, _MAX_HELP_POSITION);
  const parts = [_usage(text, theme), _rawText(text.description, text.prog)];
  for (const [title, members] of sections) {
    if (members.length === 0) continue;
    const entries = members.map((argument) => _entry(argument, theme, helpPosition, text));
    const heading = `${theme.heading}${title || "options"}:${theme.reset}\n`;
    parts.push(`\n${heading}${entries.join("")}\n`);
  }
  parts.push(_rawText(text.epilog, text.prog));
  return _finish(parts.join(""));
}

function _finish(text: string): string {
  const collapsed = text.replace(/\n\n\n+/g, "\n\n").replace(/^\n+|\n+$/g, "");
  return collapsed ? `${collapsed}\n` : "";
}

function _usage(text: ArgvHelpText, theme: ArgvTheme): string {
  const prog = `${theme.prog}${text.prog}${theme.reset}${theme.prog_extra}`;
  const line = _percent(text.usage, { prog });
  return `${theme.usage}usage: ${theme.reset}${theme.prog_extra}${line}${theme.reset}\n\n`;
}

/** Description or epilog: as written ("%(prog)s" replaced), followed by a blank line. */
function _rawText(text: string, prog: string): string {
  if (!text) return "";
  return `${text.includes("%(prog)") ? _percent(text, { prog }) : text}\n\n`;
}

/** argparse's %-formatting of usage and help strings: "%%" and "%(name)s". */
function _percent(text: string, params: Readonly<Record<string, unknown>>): string {
  return text.replace(/%(?:(%)|\((\w+)\)s)/g, (_match, percent, name: string | undefined) => {
    if (percent) return "%";
    if (!(name! in params)) throw new TypeError(`Cannot format help "${text}": no ${name}`);
    return String(params[name!]);
  });
}

/** "-rd, --random-delay SECONDS", "--disable [FLAG]", "PROG", coloured by `theme`. */
function _invocation(argument: ArgvArgument, theme: ArgvTheme): string {
  const metavar = argument.metavar ??
    (argument.choices ? `{${argument.choices.join(",")}}` : undefined);
  if (!isOption(argument)) {
    return `${theme.action}${metavar ?? destOf(argument)}${theme.reset}`;
  }
  const names = argument.names.map((name) =>
    `${name.length > 2 ? theme.long_option : theme.short_option}${name}${theme.reset}`
  ).join(", ");
  if (arity(argument) === 0) return names;
  const label = metavar ?? destOf(argument).toUpperCase();
  const value = argument.nargs === "?"
    ? `[${label}]`
    : argument.nargs === "*"
    ? `[${label} ...]`
    : label;
  return `${names} ${theme.label}${value}${theme.reset}`;
}

/** One argument's lines: invocation, then its help from column `helpPosition`. */
function _entry(
  argument: ArgvArgument,
  theme: ArgvTheme,
  helpPosition: number,
  text: ArgvHelpText,
): string {
  const indent = " ".repeat(_INDENT);
  const plain = _invocation(argument, PLAIN_THEME);
  const colored = _invocation(argument, theme);
  const help = argument.help ?? "";
  if (!help) return `${indent}${colored}\n`;
  const gutter = helpPosition - _INDENT - 2;
  const fits = plain.length <= gutter;
  const header = fits
    ? `${indent}${colored}${" ".repeat(gutter - plain.length)}  `
    : `${indent}${colored}\n`;
  if (!help.trim()) return fits ? `${header}\n` : header;
  const params = { prog: text.prog, default: argument.default };
  const expanded = help.includes("%") ? _percent(help, params) : help;
  const lines = wrap(expanded.replace(/[ \t\n\r\f\v]+/g, " ").trim(), text.width - helpPosition);
  const pad = " ".repeat(helpPosition);
  return header + lines.map((line, i) => `${i === 0 && fits ? "" : pad}${line}\n`).join("");
}

/**
 * Greedy word wrap, as argparse's `textwrap.wrap` with its defaults does it to help text (whose
 * whitespace is already one space between words): lines at most `width` long, spaces dropped at
 * line ends, a longer word cut (never inside a surrogate pair).
 */
export function wrap(text: string, width: number): string[] {
  const chunks = text.split(/([\t\n\v\f\r ]+)/).filter(Boolean).reverse();
  const lines: string[] = [];
  while (chunks.length > 0) {
    const line: string[] = [];
    let length = 0;
    if (chunks.at(-1)!.trim() === "" && lines.length > 0) chunks.pop();
    while (chunks.length > 0 && length + chunks.at(-1)!.length <= width) {
      length += chunks.at(-1)!.length;
      line.push(chunks.pop()!);
    }
    if (chunks.length > 0 && chunks.at(-1)!.length > width) {
      const chunk = chunks.pop()!;
      let room = width < 1 ? 1 : width - length;
      const high = chunk.charCodeAt(room - 1);
      const low = chunk.charCodeAt(room);
      if (high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        room += room === 1 && length === 0 ? 1 : -1;
      }
      if (room === 0) {
        chunks.push(chunk);
      } else {
        line.push(chunk.slice(0, room));
        if (chunk.length > room) chunks.push(chunk.slice(room));
      }
    }
    if (line.length > 0 && line.at(-1)!.trim() === "") line.pop();
    lines.push(line.join(""));
  }
  return lines;
}
