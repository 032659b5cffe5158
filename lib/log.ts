/**
 * Logging: one sink for the logger core (`logger.ts`) writing plain text or JSON lines to stderr,
 * with secrets redacted from every finished line. Each module logs through
 * `getLogger(["releasemon", "<module>"])` from `logger.ts`; only `main.ts` calls
 * {@link setupLogging}.
 *
 * Text: `2026-11-25T17:02:03.123Z INFO  [watch] Version "v42" seen path=/app/.version`
 * JSON: `{"time":"…","level":"info","category":"releasemon.watch","message":"…","properties":{…}}`
 *
 * Put untrusted text (a version, hook output) into properties, not into a message template that
 * has properties: {@linkcode renderMessage} reads `{name}` in the template as the property `name`.
 * A template logged without properties is shown as written (a hook's output line).
 *
 * Properties carry raw values; only the text shown to a person is formatted. So JSON lines keep
 * real types (numbers, arrays, the version as written) while the text, and every `message`,
 * reads well:
 * - `version` and `previous` hold a raw version label (null: none): shown quoted and capped
 *   ({@linkcode quoteVersion}), e.g. `Version "v3" applied`, while JSON has `"version":"v3"`;
 * - a number whose name ends in `Ms` is a duration: shown for humans (`3 seconds`), and the text
 *   tail names it without the unit (`delay="3 seconds"`), while JSON keeps `"delayMs":3000`;
 * - an array is shown as its items separated by spaces (`(none)` when empty).
 *
 * @module
 */
import { configureLogger, type LogRecord } from "./logger.ts";
import { formatDuration } from "./delay.ts";

/** Longest version label {@link quoteVersion} shows, in code points. */
const MAX_VERSION_CHARS = 80;
/** Properties holding a raw version label, shown quoted (see the module doc). */
const LABEL_KEYS: ReadonlySet<string> = new Set(["version", "previous"]);
const LEVEL_NAMES: Readonly<Record<string, string>> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "FATAL",
};
// C0 controls, DEL, C1 controls, line/paragraph separators and bidi overrides: none may reach a
// terminal or a log viewer raw. JSON.stringify leaves all but C0 alone, so they are escaped after.
// deno-lint-ignore no-control-regex
const UNSAFE_CHARS = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// A property value shown without quotes: nothing that would need escaping or splits key=value.
// deno-lint-ignore no-control-regex
const BARE_VALUE = /^[^\s"'=\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$/;
const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
const AUTHORIZATION = /(authorization\s*[:=]\s*["']?\s*(?:basic|bearer)\s+)[^\s"',;]+/gi;
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@"']+@/gi;

const encoder = new TextEncoder();

/** Options for {@link setupLogging}. */
export interface LoggingOptions {
  /** The least severe level to write. */
  level: "debug" | "info" | "warning" | "error";
  format: "text" | "json";
  /** Values to replace with `***` wherever they appear in a line (the supervisord password). */
  secrets: string[];
  /** Receives each finished line without its newline. @default a synchronous write to stderr */
  write?: (line: string) => void;
}

/**
 * Configures logging for the whole process (replacing any earlier configuration): every record at
 * `level` or above is formatted, redacted and written as one line.
 */
export function setupLogging(options: LoggingOptions): void {
  const format = options.format === "json" ? _formatJson : _formatText;
  const write = options.write ?? _writeStderr;
  const secrets = [...options.secrets];
  configureLogger({
    lowestLevel: options.level,
    sink: (record: LogRecord) => write(redact(format(record), secrets)),
  });
}

/**
 * Replaces every non-empty secret in `text` by `***`, also where it appears JSON- or
 * log-escaped, and blanks the credentials of `Authorization: Basic …` values and `user:pass@` URLs.
 */
export function redact(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === "") continue;
    forms.add(secret).add(JSON.stringify(secret).slice(1, -1)).add(_escapeUnsafe(secret));
  }
  let result = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (form !== "") result = result.replaceAll(form, "***");
  }
  return result.replace(AUTHORIZATION, "$1***").replace(URL_USERINFO, "$1***@");
}

/**
 * Quotes a value for a message: JSON-style, control and bidi characters escaped; with `maxChars`,
 * cut after that many code points with `…` and the full length after the closing quote.
 */
export function quote(text: string, maxChars = Infinity): string {
  const chars = Array.from(text);
  const shown = chars.length > maxChars ? chars.slice(0, maxChars) : chars;
  const quoted = _escapeUnsafe(JSON.stringify(shown.join("")));
  return chars.length > maxChars ? `${quoted}… (${chars.length} characters)` : quoted;
}

/** Quotes a version label for a log message: {@linkcode quote}, cut after 80 code points. */
export function quoteVersion(label: string): string {
  return quote(label, MAX_VERSION_CHARS);
}

/** `<ISO time> <LEVEL> [<category>] <message> key=value …`: one line, no ANSI, no raw controls. */
function _formatText(record: LogRecord): string {
  const time = _isoTime(record.timestamp);
  const level = (LEVEL_NAMES[record.level] ?? record.level.toUpperCase()).padEnd(5);
  const category = record.category[0] === "releasemon" ? record.category.slice(1) : record.category;
  const inMessage = _placeholders(record.rawMessage);
  let line = `${time} ${level} [${category.join(".") || "releasemon"}] ${renderMessage(record)}`;
  for (const [key, value] of Object.entries(record.properties)) {
    const duration = _isDuration(key, value);
    // Shown already: in the message, or as its human twin (`{after}` for `afterMs`).
    if (inMessage.has(key) || (duration && inMessage.has(key.slice(0, -2)))) continue;
    const shown = LABEL_KEYS.has(key)
      ? _shown(key, value)
      : duration || Array.isArray(value)
      ? _bare(_shown(key, value))
      : _textValue(value);
    line += ` ${duration ? key.slice(0, -2) : key}=${shown}`;
  }
  return _escapeUnsafe(line);
}

/** One JSON object: time, level, category, message, properties. */
function _formatJson(record: LogRecord): string {
  const entry = {
    time: _isoTime(record.timestamp),
    level: record.level,
    category: record.category.join("."),
    message: renderMessage(record),
    properties: record.properties,
  };
  return _escapeUnsafe(_stringify(entry));
}

/**
 * The message with its values filled in, each as a person reads it (a version quoted, a
 * duration in human units, a list spaced); other strings appear bare, as the caller quoted them.
 * Both formats write this as the message.
 */
export function renderMessage(record: LogRecord): string {
  const properties = record.properties;
  return record.rawMessage.replace(/\{([^{}]+)\}/g, (match, name: string) => {
    const key = name.trim();
    return Object.hasOwn(properties, key) ? _shown(key, properties[key]) : match;
  });
}

/** A property's value for a person: a label quoted, a duration in human units, a list spaced. */
function _shown(key: string, value: unknown): string {
  if (LABEL_KEYS.has(key) && (typeof value === "string" || value === null)) {
    return value === null ? "none" : quoteVersion(value);
  }
  if (_isDuration(key, value)) return formatDuration(value as number);
  if (Array.isArray(value)) {
    return value.length === 0 ? "(none)" : value.map((item) => _plain(item)).join(" ");
  }
  return _plain(value);
}

function _isDuration(key: string, value: unknown): boolean {
  return key.endsWith("Ms") && key.length > 2 && typeof value === "number";
}

/** A shown value for the key=value tail: bare when it can be, else JSON-quoted. */
function _bare(text: string): string {
  return BARE_VALUE.test(text) ? text : JSON.stringify(text);
}

/** Property names a string template refers to, so text lines do not repeat them. */
function _placeholders(template: string): Set<string> {
  return new Set(Array.from(template.matchAll(/\{([^{}]+)\}/g), (match) => match[1]!.trim()));
}

function _plain(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return _errorText(value);
  if (value === undefined || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  return _stringify(value);
}

function _textValue(value: unknown): string {
  if (typeof value === "string") return BARE_VALUE.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(_errorText(value));
  return _plain(value);
}

/** `Name: message`, with up to three causes. */
function _errorText(error: Error): string {
  let text = `${error.name}: ${error.message}`;
  let cause = error.cause;
  for (let depth = 0; cause !== undefined && depth < 3; depth++) {
    text += cause instanceof Error
      ? `; cause: ${cause.name}: ${cause.message}`
      : `; cause: ${_plain(cause)}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}

/** JSON.stringify that survives bigints, errors and cycles. */
function _stringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === "bigint") return item.toString();
    if (item instanceof Error) {
      return {
        name: item.name,
        message: item.message,
        ...(item.cause === undefined ? {} : { cause: item.cause }),
      };
    }
    if (typeof item === "object" && item !== null) {
      if (seen.has(item)) return "[Circular]";
      seen.add(item);
    }
    return item;
  }) ?? "undefined";
}

/**
 * `2026-11-25T17:02:03.123Z`: what `Date#toISOString` writes, built from the UTC fields, because
 * the first toISOString call alone adds about 1.5 MiB to an idle process (Deno 2.9.6, measured).
 * Years outside 0–9999 (never a clock's) are left to toISOString.
 */
function _isoTime(ms: number): string {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.` +
    `${pad(date.getUTCMilliseconds(), 3)}Z`;
}

/** Escapes control, separator and bidi characters as `\n`, `\r`, `\t` or `\uXXXX`. */
function _escapeUnsafe(text: string): string {
  return text.replace(
    UNSAFE_CHARS,
    (char) => SHORT_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Writes the line and a newline to stderr synchronously, looping over partial writes. */
function _writeStderr(line: string): void {
  const bytes = encoder.encode(`${line}\n`);
  try {
    for (let offset = 0; offset < bytes.length;) {
      offset += Deno.stderr.writeSync(bytes.subarray(offset));
    }
  } catch {
    // stderr is gone (closed pipe): there is nowhere left to report it.
  }
}
