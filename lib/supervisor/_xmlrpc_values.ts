/**
 * XML-RPC value types, and conversions between scalar element text and JavaScript values.
 *
 * `xmlrpc.ts` re-exports the types; import them from there. Encoding helpers throw `RangeError`
 * for values XML-RPC or XML 1.0 cannot carry. Parsing helpers take the element's text (already
 * entity-decoded) and report problems through `fail`, so the caller decides the error class and
 * offset. No regular expression here runs on untrusted text.
 *
 * @module
 */

import { codePointName, findForbiddenChar, trimXmlSpace } from "./_xml_chars.ts";

/** An XML-RPC `<struct>`. */
export type XmlRpcStruct = { [key: string]: XmlRpcValue };
/** Any value XML-RPC can carry (`null` is the `<nil/>` extension, which supervisord accepts). */
export type XmlRpcValue =
  | null
  | boolean
  | number
  | string
  | Date
  | Uint8Array
  | XmlRpcDouble
  | XmlRpcValue[]
  | XmlRpcStruct;

/** Wraps a number that must be sent as `<double>` even when it is integral. */
export class XmlRpcDouble {
  constructor(readonly value: number) {}
}

/** Reports a problem with the element's text; never returns. */
export type Fail = (detail: string) => never;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Escapes `text` for element content, after checking that XML 1.0 can carry every character. */
export function escapeText(text: string, what: string): string {
  const bad = findForbiddenChar(text);
  if (bad >= 0) {
    const code = text.codePointAt(bad) ?? 0;
    const lone = code >= 0xd800 && code <= 0xdfff ? " (a lone surrogate)" : "";
    throw new RangeError(
      `Cannot encode ${what}: it contains ${codePointName(code)}${lone} at index ${bad}, ` +
        "which XML 1.0 cannot carry; send such data as a Uint8Array (base64)",
    );
  }
  // "\r" as a reference survives the parser's line-end normalisation (XML 1.0 §2.11).
  return /[&<>\r]/.test(text) ? text.replace(/[&<>\r]/g, escapeChar) : text;
}

function escapeChar(char: string): string {
  return char === "&" ? "&amp;" : char === "<" ? "&lt;" : char === ">" ? "&gt;" : "&#13;";
}

/** A finite number as `<double>` text that Python's `float()` and ours read back exactly. */
export function formatDouble(value: number): string {
  if (!Number.isFinite(value)) {
    throw new RangeError(`Cannot encode number ${value}: XML-RPC has no NaN or Infinity`);
  }
  if (Object.is(value, -0)) return "-0.0";
  const text = String(value);
  return text.includes(".") || text.includes("e") ? text : `${text}.0`;
}

/** Whether an integral number fits `<int>` (XML-RPC's four-byte signed integer). */
export function isInt32(value: number): boolean {
  return value >= INT32_MIN && value <= INT32_MAX;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/** A Date in Python's `dateTime.iso8601` format, `YYYYMMDDTHH:MM:SS`, in UTC. */
export function formatDateTime(date: Date): string {
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime())) throw new RangeError("Cannot encode an invalid Date");
  if (year < 1 || year > 9999) {
    throw new RangeError(`Cannot encode Date ${date.toISOString()}: the year must be 1 to 9999`);
  }
  return `${pad(year, 4)}${pad(date.getUTCMonth() + 1, 2)}${pad(date.getUTCDate(), 2)}T` +
    `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
}

/** Standard base64 (RFC 4648 §4) of `bytes`, without line breaks. */
export function encodeBase64(bytes: Uint8Array): string {
  const chunks: string[] = [];
  for (let i = 0; i < bytes.length; i += 0x8000) {
    chunks.push(String.fromCharCode(...bytes.subarray(i, i + 0x8000)));
  }
  return btoa(chunks.join(""));
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Counts ASCII digits in `text` from `pos`. */
function digitsAt(text: string, pos: number): number {
  let end = pos;
  while (end < text.length && isDigit(text.charCodeAt(end))) end++;
  return end - pos;
}

/** `<int>`, `<i4>` (four-byte) and `<i8>` (eight-byte, but only JavaScript's safe integers). */
export function parseInteger(raw: string, fail: Fail, tag: string): number {
  const text = trimXmlSpace(raw);
  const sign = text[0] === "-" || text[0] === "+" ? 1 : 0;
  const digits = digitsAt(text, sign);
  if (digits === 0 || sign + digits !== text.length) {
    fail(`<${tag}> holds ${JSON.stringify(text.slice(0, 30))}, not an integer`);
  }
  let first = sign;
  while (first < text.length - 1 && text[first] === "0") first++;
  const value = text.length - first > 20 ? Infinity : Number(text);
  if (tag === "i8" ? !Number.isSafeInteger(value) : !isInt32(value)) {
    const range = tag === "i8" ? "a safe integer (±2^53-1)" : "a four-byte integer";
    fail(`<${tag}> value ${text.length > 30 ? `${text.slice(0, 30)}…` : text} is not ${range}`);
  }
  return value === 0 ? 0 : value;
}

/** `<boolean>`: exactly `0` or `1`, as Python's unmarshaller requires. */
export function parseBoolean(raw: string, fail: Fail): boolean {
  const text = trimXmlSpace(raw);
  if (text !== "0" && text !== "1") {
    fail(`<boolean> holds ${JSON.stringify(text.slice(0, 30))}, not 0 or 1`);
  }
  return text === "1";
}

/** `<double>`: decimal with optional fraction and exponent; NaN and Infinity are refused. */
export function parseDouble(raw: string, fail: Fail): number {
  const text = trimXmlSpace(raw);
  let pos = text[0] === "-" || text[0] === "+" ? 1 : 0;
  const whole = digitsAt(text, pos);
  pos += whole;
  let fraction = 0;
  if (text[pos] === ".") {
    fraction = digitsAt(text, pos + 1);
    pos += 1 + fraction;
  }
  let valid = whole + fraction > 0;
  if (valid && (text[pos] === "e" || text[pos] === "E")) {
    const expSign = text[pos + 1] === "-" || text[pos + 1] === "+" ? 1 : 0;
    const exponent = digitsAt(text, pos + 1 + expSign);
    valid = exponent > 0;
    pos += 1 + expSign + exponent;
  }
  const value = valid && pos === text.length ? Number(text) : NaN;
  if (!Number.isFinite(value)) {
    fail(`<double> holds ${JSON.stringify(text.slice(0, 30))}, not a finite number`);
  }
  return value;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1] ?? 0;
}

/**
 * `<dateTime.iso8601>`: `YYYYMMDDTHH:MM:SS` (Python, supervisord) or `YYYY-MM-DDTHH:MM:SS`, with
 * optional fractional seconds and an optional `Z` or `±HH:MM` offset. Without an offset the time
 * is taken as UTC, which is what our encoder writes.
 */
export function parseDateTime(raw: string, fail: Fail): Date {
  const text = trimXmlSpace(raw);
  let pos = 0;
  const bad = (): never =>
    fail(`<dateTime.iso8601> holds ${JSON.stringify(text.slice(0, 40))}, not a date and time`);
  const num = (width: number): number => {
    if (digitsAt(text, pos) < width) bad();
    pos += width;
    return Number(text.slice(pos - width, pos));
  };
  const separator = (char: string, wanted: boolean): void => {
    if (!wanted) return;
    if (text[pos] !== char) bad();
    pos++;
  };
  const year = num(4);
  const dashed = text[pos] === "-";
  separator("-", dashed);
  const month = num(2);
  separator("-", dashed);
  const day = num(2);
  separator("T", true);
  const hour = num(2);
  const colons = text[pos] === ":";
  separator(":", colons);
  const minute = num(2);
  separator(":", colons);
  const second = num(2);
  let millis = 0;
  if (text[pos] === ".") {
    pos++;
    const count = digitsAt(text, pos);
    if (count === 0) bad();
    millis = Math.floor(Number(`0.${text.slice(pos, pos + Math.min(count, 9))}`) * 1000);
    pos += count;
  }
  let offsetMinutes = 0;
  if (text[pos] === "Z") {
    pos++;
  } else if (text[pos] === "+" || text[pos] === "-") {
    const direction = text[pos++] === "-" ? -1 : 1;
    const offsetHours = num(2);
    if (text[pos] === ":") pos++;
    const offsetMins = num(2);
    if (offsetHours > 23 || offsetMins > 59) bad();
    offsetMinutes = direction * (offsetHours * 60 + offsetMins);
  }
  if (pos !== text.length || month < 1 || month > 12 || day < 1) bad();
  if (day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) bad();
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  date.setTime(date.getTime() - offsetMinutes * 60_000);
  const utcYear = date.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) fail(`<dateTime.iso8601> year is not 1 to 9999`);
  return date;
}

const BASE64_VALUES = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** `<base64>`: the standard alphabet with `=` padding; white space anywhere is skipped. */
export function decodeBase64(text: string, fail: Fail): Uint8Array {
  const out = new Uint8Array(Math.floor(text.length / 4) * 3 + 3);
  let length = 0;
  let quad = 0;
  let count = 0;
  let padding = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x20 || code === 0x9 || code === 0xa || code === 0xd) continue;
    if (code === 0x3d /* = */) {
      if (count < 2 || ++padding + count > 4) fail("<base64> has misplaced padding");
      continue;
    }
    const value = code < 128 ? BASE64_VALUES[code] ?? -1 : -1;
    if (value < 0) fail(`<base64> contains ${JSON.stringify(text[i])}`);
    if (padding > 0) fail("<base64> has data after padding");
    quad = (quad << 6) | value;
    if (++count === 4) {
      out[length++] = quad >> 16;
      out[length++] = (quad >> 8) & 0xff;
      out[length++] = quad & 0xff;
      quad = 0;
      count = 0;
    }
  }
  if (padding > 0 && count + padding !== 4) fail("<base64> has misplaced padding");
  if (count === 1 || (count > 0 && padding === 0)) fail("<base64> length is not a multiple of 4");
  if (count === 2) out[length++] = quad >> 4;
  if (count === 3) {
    out[length++] = quad >> 10;
    out[length++] = (quad >> 2) & 0xff;
  }
  return out.slice(0, length);
}
