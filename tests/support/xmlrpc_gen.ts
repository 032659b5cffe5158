/**
 * Fixtures, seeded generators and mutators for the XML-RPC codec tests and fuzz runs.
 *
 * The `PY_*` fixtures are verbatim output of Python 3.11's `xmlrpc.client` marshaller, which is
 * what supervisord 4.2.5 answers with (`import xmlrpc.client as x`), so tests never need Python.
 * Everything random comes from {@linkcode Rng}, seeded per case: a case number and seed replay it.
 *
 * @module
 */

import { XmlRpcDouble, type XmlRpcStruct, type XmlRpcValue } from "../../lib/supervisor/xmlrpc.ts";

/** Python 3.11: `x.dumps(([{'name': 'w1', 'group': 'workers', ...}],), methodresponse=True)` */
export const PY_PROCESS_INFO_RESPONSE =
  "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><struct>\n<member>\n<name>name</name>\n<value><string>w1</string></value>\n</member>\n<member>\n<name>group</name>\n<value><string>workers</string></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n<member>\n<name>state</name>\n<value><int>20</int></value>\n</member>\n<member>\n<name>pid</name>\n<value><int>123</int></value>\n</member>\n<member>\n<name>start</name>\n<value><int>1700000000</int></value>\n</member>\n<member>\n<name>stop</name>\n<value><int>0</int></value>\n</member>\n<member>\n<name>now</name>\n<value><int>1700000001</int></value>\n</member>\n<member>\n<name>spawnerr</name>\n<value><string></string></value>\n</member>\n<member>\n<name>exitstatus</name>\n<value><int>0</int></value>\n</member>\n<member>\n<name>logfile</name>\n<value><string>/tmp/x</string></value>\n</member>\n<member>\n<name>stdout_logfile</name>\n<value><string>/tmp/x</string></value>\n</member>\n<member>\n<name>stderr_logfile</name>\n<value><string></string></value>\n</member>\n<member>\n<name>description</name>\n<value><string>pid 123, uptime 0:00:01</string></value>\n</member>\n</struct></value>\n</data></array></value>\n</param>\n</params>\n</methodResponse>\n";
/** Python 3.11: `x.dumps(x.Fault(10, 'BAD_NAME: nope'), methodresponse=True)` */
export const PY_FAULT_RESPONSE =
  "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>BAD_NAME: nope</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
/** Python 3.11: `x.dumps(('workers:w1', True), 'supervisor.startProcess')` */
export const PY_START_PROCESS_CALL =
  "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.startProcess</methodName>\n<params>\n<param>\n<value><string>workers:w1</string></value>\n</param>\n<param>\n<value><boolean>1</boolean></value>\n</param>\n</params>\n</methodCall>\n";
/** Python 3.11: `x.dumps((), 'supervisor.getState')` */
export const PY_GET_STATE_CALL =
  "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getState</methodName>\n<params>\n</params>\n</methodCall>\n";
/** Python 3.11: `x.dumps((ALL_TYPES,), methodresponse=True, allow_none=True); see PY_ALL_TYPES_VALUE` */
export const PY_ALL_TYPES_RESPONSE =
  "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n<member>\n<name>s</name>\n<value><string>a &amp; b &lt; c &gt; d \"q\" 'a' \r\n tab\t é 😀</string></value>\n</member>\n<member>\n<name>i</name>\n<value><int>-2147483648</int></value>\n</member>\n<member>\n<name>f</name>\n<value><double>1.5</double></value>\n</member>\n<member>\n<name>big</name>\n<value><double>1e+300</double></value>\n</member>\n<member>\n<name>tiny</name>\n<value><double>-2.5e-07</double></value>\n</member>\n<member>\n<name>whole</name>\n<value><double>3.0</double></value>\n</member>\n<member>\n<name>t</name>\n<value><boolean>1</boolean></value>\n</member>\n<member>\n<name>n</name>\n<value><nil/></value></member>\n<member>\n<name>d</name>\n<value><dateTime.iso8601>20240229T23:59:07</dateTime.iso8601></value>\n</member>\n<member>\n<name>b</name>\n<value><base64>\nAAFoZWxsb/8=\n</base64></value>\n</member>\n<member>\n<name>e</name>\n<value><array><data>\n</data></array></value>\n</member>\n<member>\n<name>es</name>\n<value><struct>\n</struct></value>\n</member>\n<member>\n<name>nest</name>\n<value><array><data>\n<value><array><data>\n<value><int>1</int></value>\n<value><array><data>\n<value><int>2</int></value>\n<value><struct>\n<member>\n<name>k</name>\n<value><array><data>\n</data></array></value>\n</member>\n</struct></value>\n</data></array></value>\n</data></array></value>\n</data></array></value>\n</member>\n<member>\n<name>__proto__</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>constructor</name>\n<value><string>c</string></value>\n</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n";

/** What `PY_ALL_TYPES_RESPONSE` decodes to; its raw CR LF arrives as LF, as Python reads it too. */
export function pyAllTypesValue(): XmlRpcStruct {
  return struct([
    ["s", "a & b < c > d \"q\" 'a' \n tab\t é 😀"],
    ["i", -2147483648],
    ["f", 1.5],
    ["big", 1e300],
    ["tiny", -2.5e-7],
    ["whole", 3],
    ["t", true],
    ["n", null],
    ["d", new Date(Date.UTC(2024, 1, 29, 23, 59, 7))],
    ["b", new Uint8Array([0, 1, 104, 101, 108, 108, 111, 255])],
    ["e", []],
    ["es", {}],
    ["nest", [[1, [2, { k: [] }]]]],
    ["__proto__", 1],
    ["constructor", "c"],
  ]);
}

/** A struct built with own properties only, so `__proto__` is a member, never the prototype. */
export function struct(members: Iterable<readonly [string, XmlRpcValue]>): XmlRpcStruct {
  const result: XmlRpcStruct = {};
  for (const [name, value] of members) {
    Object.defineProperty(result, name, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return result;
}

/** The `getProcessInfo` struct of program `w<index>`, with supervisord's field names. */
export function processInfo(index: number): XmlRpcStruct {
  const name = `w${index}`;
  const pid = 1000 + index;
  return {
    name,
    group: "workers",
    statename: "RUNNING",
    state: 20,
    pid,
    start: 1700000000 + index,
    stop: 0,
    now: 1700003600,
    spawnerr: "",
    exitstatus: 0,
    logfile: `/var/log/supervisor/workers-${name}-stdout---supervisor-a1b2c3.log`,
    stdout_logfile: `/var/log/supervisor/workers-${name}-stdout---supervisor-a1b2c3.log`,
    stderr_logfile: `/var/log/supervisor/workers-${name}-stderr---supervisor-d4e5f6.log`,
    description: `pid ${pid}, uptime 0:59:${String(60 - (index % 60)).padStart(2, "0")}`,
  };
}

/**
 * `getAllProcessInfo` for `count` programs, laid out byte for byte as Python's marshaller does
 * (checked against `x.dumps(([...],), methodresponse=True)` for 200 programs: identical).
 */
export function processInfoResponse(count: number): string {
  const parts = [
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n",
  ];
  for (let i = 1; i <= count; i++) {
    parts.push("<value><struct>\n");
    for (const [name, value] of Object.entries(processInfo(i))) {
      const typed = typeof value === "number" ? `<int>${value}</int>` : `<string>${value}</string>`;
      parts.push(`<member>\n<name>${name}</name>\n<value>${typed}</value>\n</member>\n`);
    }
    parts.push("</struct></value>\n");
  }
  parts.push("</data></array></value>\n</param>\n</params>\n</methodResponse>\n");
  return parts.join("");
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** A small seeded PRNG (a Weyl sequence through a 32-bit avalanche mix); never `Math.random`. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return mix32(this.#state);
  }
  /** In [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** An integer in [low, high]. */
  range(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

function mix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** The seed of case `index` in a run seeded with `seed`, so any case replays on its own. */
export function caseSeed(seed: number, index: number): number {
  return mix32(mix32(seed) ^ mix32(index + 0x632be5ab));
}

// ---------------------------------------------------------------------------------------------
// Valid values

// deno-fmt-ignore
const PIECES = [
  "a", "w1", "workers:w1", " ", "  ", "\t", "\n", "\r", "\r\n", "&", "<", ">", '"', "'", "&amp;",
  "&#13;", "]]>", "<value>", "<![CDATA[x]]>", "é", "😀", "中文", "\u00a0", "\ufeff", "\ufffd",
  "\ue000", "\u{10ffff}", "0", "-1", "1e5", "__proto__", "constructor",
];

// deno-fmt-ignore
const CHAR_RANGES: readonly (readonly [number, number])[] = [
  [0x20, 0x7e], [0x20, 0x7e], [0xa0, 0xd7ff], [0xe000, 0xfffd], [0x10000, 0x10ffff], [0x9, 0xa],
];

function genChar(rng: Rng): string {
  const [low, high] = rng.pick(CHAR_RANGES);
  return String.fromCodePoint(rng.range(low, high));
}

/** A string XML 1.0 can carry: tricky pieces, random characters, now and then a long one. */
export function genString(rng: Rng): string {
  const count = rng.chance(0.02) ? rng.int(3000) : rng.int(9);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(rng.chance(0.5) ? rng.pick(PIECES) : genChar(rng));
  return parts.join("");
}

// deno-fmt-ignore
const INT_EDGES = [
  0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER, 20, 1700000000,
];

function genInt(rng: Rng): number {
  switch (rng.int(4)) {
    case 0:
      return rng.pick(INT_EDGES);
    case 1:
      return rng.range(-1000, 1000);
    case 2:
      return (rng.u32() | 0);
    default:
      return (rng.u32() % 2 ** 21) * 2 ** 32 + rng.u32() - 2 ** 52;
  }
}

// deno-fmt-ignore
const DOUBLE_EDGES = [
  0.1, -0.5, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 1e-7,
  2 ** 53 + 2, 1e300, 123456789.125,
];

function genDouble(rng: Rng): number | XmlRpcDouble {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(DOUBLE_EDGES);
    case 1:
      return new XmlRpcDouble(rng.pick([0, -0, 1, -1, 3, 2 ** 40, rng.range(-1e6, 1e6)]));
    case 2: {
      const view = new DataView(new ArrayBuffer(8));
      view.setUint32(0, rng.u32());
      view.setUint32(4, rng.u32());
      const value = view.getFloat64(0);
      return Number.isFinite(value) ? value : 0.25;
    }
    default: {
      const value = (rng.float() - 0.5) * 10 ** rng.range(-30, 30);
      return Number.isInteger(value) ? new XmlRpcDouble(value) : value;
    }
  }
}

const FIRST_SECOND = -62_135_596_800; // 0001-01-01T00:00:00Z
const LAST_SECOND = Date.UTC(9999, 11, 31, 23, 59, 59) / 1000;

function genDate(rng: Rng): Date {
  const second = rng.chance(0.5)
    ? rng.range(1_600_000_000, 1_900_000_000)
    : FIRST_SECOND + Math.floor(rng.float() * (LAST_SECOND - FIRST_SECOND + 1));
  return new Date(second * 1000 + (rng.chance(0.5) ? rng.int(1000) : 0));
}

function genBytes(rng: Rng): Uint8Array {
  const bytes = new Uint8Array(rng.chance(0.02) ? rng.int(5000) : rng.int(40));
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  return bytes;
}

const SPECIAL_NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "", " ", "0"];

/** A random value of any type, containers nested at most `depth` deep. */
export function genValue(rng: Rng, depth = rng.int(5)): XmlRpcValue {
  switch (rng.int(depth > 0 ? 12 : 9)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return genInt(rng);
    case 3:
      return genDouble(rng);
    case 4:
    case 5:
      return genString(rng);
    case 6:
      return genDate(rng);
    case 7:
      return genBytes(rng);
    case 8:
      return rng.chance(0.5) ? [] : {};
    case 9:
    case 10:
      return Array.from({ length: rng.int(7) }, () => genValue(rng, depth - 1));
    default:
      return struct(
        Array.from(
          { length: rng.int(7) },
          () => [
            rng.chance(0.2) ? rng.pick(SPECIAL_NAMES) : genString(rng),
            genValue(rng, depth - 1),
          ],
        ),
      );
  }
}

/** A value nested exactly `depth` containers deep (64 is the decoder's default limit). */
export function genDeepValue(rng: Rng, depth: number): XmlRpcValue {
  let value: XmlRpcValue = rng.chance(0.3) ? [] : genString(rng);
  for (let i = Array.isArray(value) ? 1 : 0; i < depth; i++) {
    value = rng.chance(0.5) ? [value] : struct([["k", value]]);
  }
  return value;
}

const METHOD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/";
const METHODS = ["supervisor.getState", "supervisor.getAllProcessInfo", "system.multicall"];

/** A method name our encoder accepts. */
export function genMethodName(rng: Rng): string {
  if (rng.chance(0.3)) return rng.pick(METHODS);
  return Array.from({ length: rng.range(1, 30) }, () => rng.pick([...METHOD_CHARS])).join("");
}

/**
 * Where `actual` (decoded) differs from `expected` (encoded), as a path and reason, or undefined.
 * Dates are equal to the second (the wire format has no fractions); an `XmlRpcDouble` equals the
 * number it wraps (the decoder yields plain numbers), keeping the sign of zero.
 */
export function diffValues(expected: XmlRpcValue, actual: unknown, path = "$"): string | undefined {
  const show = (value: unknown) => Deno.inspect(value, { depth: 1 }).slice(0, 80);
  const differ = () => `${path}: expected ${show(expected)}, got ${show(actual)}`;
  if (expected instanceof XmlRpcDouble) {
    return Object.is(expected.value, actual) ? undefined : differ();
  }
  if (expected instanceof Date) {
    return actual instanceof Date &&
        Math.floor(actual.getTime() / 1000) === Math.floor(expected.getTime() / 1000)
      ? undefined
      : differ();
  }
  if (expected instanceof Uint8Array) {
    return actual instanceof Uint8Array && actual.length === expected.length &&
        actual.every((byte, i) => byte === expected[i])
      ? undefined
      : differ();
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return differ();
    for (let i = 0; i < expected.length; i++) {
      const found = diffValues(expected[i] as XmlRpcValue, actual[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof expected === "object" && expected !== null) {
    if (
      typeof actual !== "object" || actual === null ||
      Object.getPrototypeOf(actual) !== Object.prototype
    ) return differ();
    const names = Object.keys(expected);
    if (names.length !== Object.keys(actual).length) return `${path}: member count differs`;
    for (const name of names) {
      if (!Object.hasOwn(actual, name)) return `${path}: member ${JSON.stringify(name)} missing`;
      const found = diffValues(
        expected[name] as XmlRpcValue,
        (actual as XmlRpcStruct)[name],
        `${path}[${JSON.stringify(name)}]`,
      );
      if (found !== undefined) return found;
    }
    return undefined;
  }
  return expected === actual ? undefined : differ();
}
