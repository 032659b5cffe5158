/**
/**
 * The value types of releasemon's flags, for `_config_parser.ts`: each takes the text given on
 * the command line and gives the value or throws `ArgvValueError` with the reason. URLs are checked by
 * their own parsers (`supervisor/server_url.ts`, `fleet/fleet_url.ts`). Pure.
 *
 * @module
 */
import { quote as _quote } from "./log.ts";
import { ArgvValueError } from "./_argv_types.ts";
import { UsageError } from "./errors.ts";
import { parseFleetUrl } from "./fleet/fleet_url.ts";
import { parseServerUrl } from "./supervisor/server_url.ts";

/** Longest timer: setTimeout holds at most 2^31-1 ms (about 24.8 days) and fires at once beyond. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest duration flag in seconds, so that it fits {@link MAX_TIMER_MS}. */
export const MAX_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
/** Shortest non-zero duration: 1 ms, the resolution everything inside works in. */
const MIN_SECONDS = 0.001;
const TRUE_WORDS = ["1", "true", "yes", "on"];
const FALSE_WORDS = ["0", "false", "no", "off"];
const FLAG_WORDS = "1/0, true/false, yes/no or on/off";

/** FLAG: 1/0, true/false, yes/no, on/off, in any case, surrounding whitespace ignored. */
export function flagType(hint: string) {
  return (text: string): boolean => {
    const word = text.trim().toLowerCase();
    if (TRUE_WORDS.includes(word)) return true;
    if (FALSE_WORDS.includes(word)) return false;
    if (word === "") {
      throw new ArgvValueError(
        `FLAG is empty: use ${FLAG_WORDS} (in supervisord.conf an empty value usually means ` +
          `the environment variable behind %(ENV_...)s is unset)`,
      );
    }
    throw new ArgvValueError(`invalid FLAG ${_quote(text)}: use ${FLAG_WORDS}${hint}`);
  };
}

/**
 * What a SECONDS flag accepts. Everything inside works in whole ms and timers hold at most
 * {@link MAX_TIMER_MS}, so a value that would round to 0 ms, or overflow a timer, is refused.
 */
export interface SecondsRule {
  /** 0 is allowed (it means "none"). @default false */
  zero?: boolean;
  /** Smallest non-zero value. @default MIN_SECONDS */
  min?: number;
  /** Largest value. @default MAX_SECONDS */
  max?: number;
}

/** The one validator of durations: SECONDS, a finite decimal number within `rule`. */
export function secondsType(rule: SecondsRule) {
  const { zero = false, min = MIN_SECONDS, max = MAX_SECONDS } = rule;
  return (text: string): number => {
    const trimmed = text.trim();
    const value = /^(\d+(\.\d*)?|\.\d+)$/.test(trimmed) ? Number(trimmed) : NaN;
    const got = `got ${_quote(text)}`;
    if (Number.isNaN(value) || (value === 0 && !zero && min <= MIN_SECONDS)) {
      const kind = zero ? "a non-negative" : "a positive";
      throw new ArgvValueError(`must be ${kind} number of seconds, ${got}`);
    }
    if (max !== MAX_SECONDS && (value < min || value > max)) {
      throw new ArgvValueError(`must be between ${min} and ${max} seconds, ${got}`);
    }
    if (value < min && !(zero && value === 0)) {
      const floor = `at least ${min} second${min === 1 ? "" : "s"}`;
      throw new ArgvValueError(`must be ${zero ? `0 or ${floor}` : floor}, ${got}`);
    }
    if (value > max) {
      throw new ArgvValueError(`must be at most ${max} seconds (about 24 days), ${got}`);
    }
    return value;
  };
}

/** The one validator of counts: N, a whole number from `min` to a million. */
export function wholeNumberType(min: number, of: string) {
  const bound = min === 0 ? "0 or more" : `${min} or more`;
  return (text: string): number => {
    const trimmed = text.trim();
    if (!/^\d+$/.test(trimmed) || Number(trimmed) < min || Number(trimmed) > 1_000_000) {
      throw new ArgvValueError(`must be a whole number${of}, ${bound}, got ${_quote(text)}`);
    }
    return Number(trimmed);
  };
}

/** `--fleet URL`: what {@link parseFleetUrl} accepts. */
export function fleetUrlType(text: string): string {
  _argumentCheck(() => parseFleetUrl(text));
  return text;
}

export function fleetNameType(text: string): string {
  if (!/^[A-Za-z0-9._@-]{1,128}$/.test(text)) {
    throw new ArgvValueError(
      `invalid name ${_quote(text)}: use 1-128 letters, digits, ".", "_", "@" or "-"`,
    );
  }
  return text;
}

export function groupType(text: string): string {
  if (text === "" || text.includes(":") || /[\s\p{Cc}]/u.test(text)) {
    throw new ArgvValueError(
      `invalid group name ${_quote(text)}: must be non-empty, without whitespace or colons`,
    );
  }
  return text;
}

/** `-s URL`: what {@link parseServerUrl} accepts. */
export function serverUrlType(text: string): string {
  _argumentCheck(() => parseServerUrl(text));
  return text;
}

/**
 * `--ready-url URL`: an absolute http:// or https:// URL once `{name}` and `{group}` are
 * replaced; no user name or password in it (it is logged).
 */
export function readyUrlType(text: string): string {
  let url: URL;
  try {
    // "0" fits wherever a name can go: host, port (`http://127.0.0.1:{name}/`), path, query.
    url = new URL(text.replaceAll("{name}", "0").replaceAll("{group}", "0"));
  } catch {
    throw new ArgvValueError(`invalid URL ${_quote(text)}: use http://host:port/path`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ArgvValueError(
      `invalid URL ${_quote(text)}: must start with http:// or https://, not ${url.protocol}//`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new ArgvValueError(
      `invalid URL ${
        _quote(text.replace(/\/\/[^/]*@/, "//…@"))
      }: no credentials in it (it is logged)`,
    );
  }
  return text;
}

/** `name`, `group:name` or `group:*`: non-empty parts, no whitespace, at most one colon. */
export function isNamespec(text: string): boolean {
  if (/[\s\p{Cc}]/u.test(text)) return false;
  const parts = text.split(":");
  if (parts.length > 2 || parts.some((part) => part === "")) return false;
  return parts[0] !== "*"; // "*" means every program of a group, so it needs one: "group:*"
}

export function ms(seconds: number): number {
  return Math.round(seconds * 1000);
}

/** Runs a parser's check; its UsageError becomes an ArgvValueError. */
function _argumentCheck(check: () => unknown): void {
  try {
    check();
  } catch (error) {
    if (error instanceof UsageError) throw new ArgvValueError(error.message);
    throw error;
  }
}
