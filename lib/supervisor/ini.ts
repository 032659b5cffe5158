/**
 * The Python rules a supervisord.conf is read by, for `conf_file.ts`: the INI dialect (Python's
 * `configparser.RawConfigParser` as supervisor 4.2.5 configures it: `UnhosedConfigParser` in
 * `supervisor/options.py`, `inline_comment_prefixes=(';', '#')`, `strict=False`), supervisor's
 * `%(name)s` expansion of values (`expand` in the same file), and Python's `str.strip`/`split`.
 * `_py_paths.ts` holds the `fnmatch`, `posixpath` and `sorted` that `[include]` globbing relies on.
 *
 * Pure: no `Deno.*`. The rules follow CPython 3.11's `RawConfigParser._read`, including its quirks:
 *
 * - A line is split at `\n`, `\r\n` or `\r`; "whitespace" is Python's (`str.isspace`).
 * - A line whose stripped text starts with `;` or `#` is a comment. Elsewhere `;` and `#` start a
 *   comment only when whitespace precedes them; the search looks for the next `;` and the next `#`
 *   in rounds and stops at the first round that finds one, so `a = x;y ;c #d` keeps `x;y ;c`.
 * - `[name]`: the name runs from the first `[` to the last `]`, taken as written (not trimmed, not
 *   lower-cased); text after the last `]` is ignored. `[DEFAULT]` holds fallbacks for every section.
 * - `key = value` or `key: value`: the first `=` or `:` splits; the key is trimmed and lower-cased,
 *   the value trimmed and may be empty.
 * - A line indented deeper than its setting's first line continues the value (joined with `\n`);
 *   blank lines inside a value are kept, comment lines are skipped, trailing blank lines dropped.
 * - A section given twice is merged and a key given twice keeps the last value (non-strict).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { quote as _quote } from "../log.ts";

/** Section name → key (lower case) → value. `DEFAULT` (if present) supplies fallbacks. */
export type IniSections = Map<string, Map<string, string>>;

/** configparser's name for the section of fallback values. */
export const DEFAULT_SECTION = "DEFAULT";

/** Python's `str.isspace()` characters (the same set as `\s` in Python's `re` for str). */
const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f" +
  "\\u205f\\u3000";
const PY_SPACE_CHAR = new RegExp(`^[${PY_SPACE}]$`);
const PY_LEADING_SPACE = new RegExp(`^[${PY_SPACE}]*`);
const PY_TRAILING_SPACE = new RegExp(`[${PY_SPACE}]+$`);
const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`);
const COMMENT_PREFIXES = ["#", ";"] as const;
const INLINE_COMMENT_PREFIXES = [";", "#"] as const;
/** How many bad lines a syntax error message lists before "and N more". */
const MAX_REPORTED_LINES = 5;

/** Python's `str.strip()`. */
export function pyStrip(text: string): string {
  return pyRstrip(text.replace(PY_LEADING_SPACE, ""));
}

/** Python's `str.rstrip()`. */
export function pyRstrip(text: string): string {
  return text.replace(PY_TRAILING_SPACE, "");
}

/** Python's `str.split()` with no separator: runs of whitespace split, no empty words. */
export function pySplit(text: string): string[] {
  return pyStrip(text).split(PY_SPACE_RUN).filter((word) => word !== "");
}

/**
 * Parses one file's text into sections, with configparser's rules as supervisor sets them.
 *
 * @throws {UsageError} naming `fileName` and the line: a setting before the first section header,
 * a line that is neither header nor setting, a setting with no name, or a leading byte order mark.
 * Messages never quote a line (it might hold a password).
 */
export function parseIni(text: string, fileName: string): IniSections {
  const fail = (detail: string): never => {
    throw new UsageError(`Cannot parse supervisord config ${_quote(fileName)}: ${detail}`);
  };
  if (text.startsWith("\ufeff")) {
    fail("line 1 starts with a byte order mark (U+FEFF), which supervisord does not accept");
  }
  const sections = new Map<string, Map<string, string[]>>();
  const badLines: number[] = [];
  let current: Map<string, string[]> | null = null;
  let option: string | null = null;
  let indentLevel = 0;
  const lines = text.split(/\r\n|\r|\n/);
  for (const [index, line] of lines.entries()) {
    const lineNumber = index + 1;
    const commentStart = _commentStart(line);
    const value = pyStrip(commentStart === null ? line : line.slice(0, commentStart));
    if (value === "") {
      // A blank line (not a comment) inside a value is kept; the indentation level stays.
      if (commentStart === null && current !== null && option) {
        current.get(option)?.push("");
      }
      continue;
    }
    const indent = line.match(PY_LEADING_SPACE)?.[0].length ?? 0;
    // An empty option name (already a syntax error) does not take continuation lines either.
    if (current !== null && option && indent > indentLevel) {
      current.get(option)?.push(value);
      continue;
    }
    indentLevel = indent;
    const header = _sectionHeader(value);
    if (header !== null) {
      current = sections.get(header) ?? new Map<string, string[]>();
      sections.set(header, current);
      option = null;
    } else if (current === null) {
      fail(`line ${lineNumber}: a setting comes before the first [section] header`);
    } else {
      // configparser collects bad lines and raises one ParsingError at the end of the file.
      const delimiter = value.search(/[=:]/);
      if (delimiter < 0) {
        badLines.push(lineNumber);
        continue;
      }
      const key = pyRstrip(value.slice(0, delimiter)).toLowerCase();
      if (key === "") badLines.push(lineNumber);
      option = key;
      current.set(key, [pyStrip(value.slice(delimiter + 1))]);
    }
  }
  if (badLines.length > 0) {
    const shown = badLines.slice(0, MAX_REPORTED_LINES).join(", ");
    const more = badLines.length > MAX_REPORTED_LINES
      ? ` and ${badLines.length - MAX_REPORTED_LINES} more`
      : "";
    fail(
      `line${badLines.length > 1 ? "s" : ""} ${shown}${more}: expected a [section] header or a ` +
        `"name = value" setting`,
    );
  }
  const result: IniSections = new Map();
  for (const [name, options] of sections) {
    const joined = new Map<string, string>();
    for (const [key, parts] of options) joined.set(key, pyRstrip(parts.join("\n")));
    result.set(name, joined);
  }
  return result;
}

/** Where the comment on `line` starts, or null; configparser's search, quirks included. */
function _commentStart(line: string): number | null {
  if (COMMENT_PREFIXES.some((prefix) => pyStrip(line).startsWith(prefix))) return 0;
  let start = Infinity;
  let searchFrom = new Map<string, number>(INLINE_COMMENT_PREFIXES.map((p) => [p, -1]));
  // Round by round: the next occurrence of each prefix; stop after the first round that finds a
  // comment (one preceded by whitespace), even if an earlier one would be found later.
  while (start === Infinity && searchFrom.size > 0) {
    const next = new Map<string, number>();
    for (const [prefix, from] of searchFrom) {
      const found = line.indexOf(prefix, from + 1);
      if (found < 0) continue;
      next.set(prefix, found);
      if (found === 0 || PY_SPACE_CHAR.test(line[found - 1] ?? "")) {
        start = Math.min(start, found);
      }
    }
    searchFrom = next;
  }
  return start === Infinity ? null : start;
}

/** configparser's `\[(?P<header>.+)\]` matched at the start: first `[` to last `]`. */
function _sectionHeader(value: string): string | null {
  if (!value.startsWith("[")) return null;
  const end = value.lastIndexOf("]");
  return end >= 2 ? value.slice(1, end) : null;
}

/** Why {@link expandPercent} failed. */
export type ExpandFailure =
  | { kind: "unknown-name"; name: string }
  | { kind: "bad-format"; offset: number };

/** The expanded value, or why it could not be expanded. */
export type ExpandResult = { ok: true; value: string } | { ok: false; failure: ExpandFailure };

/**
 * supervisor's `expand(value, names)`, i.e. Python's `value % names`, for the forms config files
 * use: `%(name)s` becomes the name's value and `%%` becomes `%`. Expansion is one pass: a value
 * that was inserted is not expanded again.
 *
 * Python also accepts other conversions (`%(name)r`, `%(name)10s`) and, absurdly, a bare `%s`
 * (which prints the whole mapping, the environment included); those are reported as
 * `bad-format` here.
 */
export function expandPercent(
  value: string,
  lookup: (name: string) => string | undefined,
): ExpandResult {
  let out = "";
  let i = 0;
  while (i < value.length) {
    const percent = value.indexOf("%", i);
    if (percent < 0) {
      out += value.slice(i);
      break;
    }
    out += value.slice(i, percent);
    const next = value[percent + 1];
    if (next === "%") {
      out += "%";
      i = percent + 2;
      continue;
    }
    if (next !== "(") return { ok: false, failure: { kind: "bad-format", offset: percent } };
    // Python allows nested parentheses in the key: `%(a(b)c)s` names `a(b)c`.
    let depth = 1;
    let end = percent + 2;
    for (; end < value.length && depth > 0; end++) {
      if (value[end] === "(") depth++;
      else if (value[end] === ")") depth--;
    }
    if (depth > 0 || value[end] !== "s") {
      return { ok: false, failure: { kind: "bad-format", offset: percent } };
    }
    const name = value.slice(percent + 2, end - 1);
    const replacement = lookup(name);
    if (replacement === undefined) return { ok: false, failure: { kind: "unknown-name", name } };
    out += replacement;
    i = end + 1;
  }
  return { ok: true, value: out };
}
