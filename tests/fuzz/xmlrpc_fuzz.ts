/**
 * Fuzzes the XML-RPC codec: generated documents must round-trip, and mutated or hostile ones must
 * decode, raise `XmlRpcFault`, or raise `XmlRpcSyntaxError`, each within a second.
 *
 *     deno run --no-prompt tests/fuzz/xmlrpc_fuzz.ts --cases 100000 [--seed N] [--case N]
 *
 * Needs no permissions. Without `--seed` the seed comes from the clock; it is always printed, and
 * `--seed S --case N` replays one case. Exits 1 when any case fails. `tests/unit/xmlrpc_fuzz_test.ts`
 * runs a smaller sample through {@linkcode runFuzz}.
 *
 * @module
 */

import { XmlRpcFault, XmlRpcSyntaxError } from "../../lib/errors.ts";
import {
  type DecodeLimits,
  decodeMethodResponse,
  encodeMethodCall,
  type XmlRpcValue,
} from "../../lib/supervisor/xmlrpc.ts";
import { decodeMethodCall, encodeFault, encodeMethodResponse } from "../support/xmlrpc_server.ts";
import {
  caseSeed,
  diffValues,
  genDeepValue,
  genMethodName,
  genString,
  genValue,
  processInfoResponse,
  PY_ALL_TYPES_RESPONSE,
  PY_FAULT_RESPONSE,
  PY_GET_STATE_CALL,
  PY_PROCESS_INFO_RESPONSE,
  PY_START_PROCESS_CALL,
  Rng,
} from "../support/xmlrpc_gen.ts";
import { hostileDocument, mutate } from "../support/xmlrpc_mutate.ts";

/** Longest a single decode may take. */
const MAX_DECODE_MS = 1000;
/** Longest error message: operators read these in logs, so hostile input must not bloat them. */
const MAX_MESSAGE_CHARS = 300;

/** What one case did. */
export interface CaseResult {
  kind: string;
  docChars: number;
  decodeMs: number;
  /** Why the case failed; undefined when it passed. */
  failure?: string;
}

/** The outcome of a run. */
export interface FuzzReport {
  seed: number;
  cases: number;
  failures: { index: number; kind: string; failure: string }[];
  slowestMs: number;
  slowestIndex: number;
  slowestKind: string;
  maxDocChars: number;
}

type Kind = "response" | "call";
type Decoded = { value: unknown } | { error: Error };

class CaseFailure extends Error {}

function decode(
  xml: string,
  kind: Kind,
  limits: DecodeLimits | undefined,
  timing: number[],
): Decoded {
  const started = performance.now();
  try {
    return {
      value: kind === "call" ? decodeMethodCall(xml, limits) : decodeMethodResponse(xml, limits),
    };
  } catch (error) {
    if (error instanceof XmlRpcSyntaxError) {
      if (!error.message.startsWith(`Cannot decode XML-RPC ${kind}: `)) {
        throw new CaseFailure(`badly worded error: ${error.message}`);
      }
      if (error.message.length > MAX_MESSAGE_CHARS) {
        throw new CaseFailure(
          `${error.message.length}-character message: ${error.message.slice(0, 200)}…`,
        );
      }
      if (error.offset < 0 || error.offset > xml.length) {
        throw new CaseFailure(`offset ${error.offset} outside the document: ${error.message}`);
      }
      return { error };
    }
    if (error instanceof XmlRpcFault && kind === "response") return { error };
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new CaseFailure(`decoding threw ${detail}`);
  } finally {
    timing.push(performance.now() - started);
  }
}

function expectSame(expected: XmlRpcValue, actual: unknown, what: string): void {
  const difference = diffValues(expected, actual);
  if (difference !== undefined) throw new CaseFailure(`${what} did not round-trip: ${difference}`);
}

function expectValue(decoded: Decoded, what: string): unknown {
  if ("error" in decoded) {
    throw new CaseFailure(`${what} failed to decode: ${decoded.error.message}`);
  }
  return decoded.value;
}

/** Whatever decoded from a mutated document must survive encoding and decoding again. */
function checkReencodes(decoded: Decoded, kind: Kind, timing: number[]): void {
  if ("error" in decoded) return;
  if (kind === "call") {
    const { method, params } = decoded.value as { method: string; params: XmlRpcValue[] };
    const again = expectValue(
      decode(encodeMethodCall(method, params), kind, undefined, timing),
      "re-encoded call",
    );
    expectSame({ method, params }, again, "re-encoded call");
  } else {
    const value = decoded.value as XmlRpcValue;
    const again = expectValue(
      decode(encodeMethodResponse(value), kind, undefined, timing),
      "re-encoded response",
    );
    expectSame(value, again, "re-encoded response");
  }
}

function validDocument(rng: Rng): { xml: string; kind: Kind } {
  switch (rng.int(3)) {
    case 0:
      return {
        xml: encodeMethodCall(genMethodName(rng), [genValue(rng), genValue(rng)]),
        kind: "call",
      };
    case 1:
      return { xml: encodeFault(rng.u32() | 0, genString(rng)), kind: "response" };
    default:
      return { xml: encodeMethodResponse(genValue(rng)), kind: "response" };
  }
}

function pythonDocument(rng: Rng): { xml: string; kind: Kind } {
  if (rng.chance(0.03)) return { xml: processInfoResponse(rng.range(1, 200)), kind: "response" };
  const [xml, kind] = rng.pick(
    [
      [PY_PROCESS_INFO_RESPONSE, "response"],
      [PY_ALL_TYPES_RESPONSE, "response"],
      [PY_FAULT_RESPONSE, "response"],
      [PY_START_PROCESS_CALL, "call"],
      [PY_GET_STATE_CALL, "call"],
    ] as const,
  );
  return { xml, kind };
}

function runCase(rng: Rng, result: CaseResult, timing: number[]): void {
  const roll = rng.int(100);
  if (roll < 22) {
    result.kind = "round-trip response";
    const value = rng.chance(0.05) ? genDeepValue(rng, rng.range(1, 64)) : genValue(rng);
    const xml = encodeMethodResponse(value);
    result.docChars = xml.length;
    expectSame(
      value,
      expectValue(decode(xml, "response", undefined, timing), "response"),
      "response",
    );
  } else if (roll < 32) {
    result.kind = "round-trip call";
    const call = {
      method: genMethodName(rng),
      params: Array.from({ length: rng.int(4) }, () => genValue(rng)),
    };
    const xml = encodeMethodCall(call.method, call.params);
    result.docChars = xml.length;
    expectSame(call, expectValue(decode(xml, "call", undefined, timing), "call"), "call");
  } else if (roll < 35) {
    result.kind = "round-trip fault";
    const [code, text] = [rng.u32() | 0, genString(rng)];
    const xml = encodeFault(code, text);
    result.docChars = xml.length;
    const decoded = decode(xml, "response", undefined, timing);
    const fault = "error" in decoded ? decoded.error : undefined;
    if (!(fault instanceof XmlRpcFault) || fault.code !== code || fault.faultString !== text) {
      throw new CaseFailure(`fault ${code} did not round-trip: got ${Deno.inspect(decoded)}`);
    }
  } else if (roll < 93) {
    const python = roll < 63;
    result.kind = python ? "mutated Python document" : "mutated generated document";
    const { xml, kind } = python ? pythonDocument(rng) : validDocument(rng);
    const mutated = mutate(rng, xml);
    result.docChars = mutated.length;
    checkReencodes(
      decode(
        mutated,
        rng.chance(0.95) ? kind : kind === "call" ? "response" : "call",
        undefined,
        timing,
      ),
      kind,
      timing,
    );
  } else {
    const hostile = hostileDocument(rng);
    result.kind = `hostile: ${hostile.name}`;
    result.docChars = hostile.xml.length;
    checkReencodes(decode(hostile.xml, "response", hostile.limits, timing), "response", timing);
  }
}

/** Runs case `index` of the run seeded with `seed`. */
export function runFuzzCase(seed: number, index: number, maxDecodeMs = MAX_DECODE_MS): CaseResult {
  const result: CaseResult = { kind: "?", docChars: 0, decodeMs: 0 };
  const timing: number[] = [];
  try {
    runCase(new Rng(caseSeed(seed, index)), result, timing);
  } catch (error) {
    result.failure = error instanceof CaseFailure
      ? error.message
      : `threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
  result.decodeMs = Math.max(0, ...timing);
  if (result.failure === undefined && result.decodeMs > maxDecodeMs) {
    result.failure = `decoding took ${result.decodeMs.toFixed(0)} ms`;
  }
  return result;
}

/** Runs `cases` cases starting at `first` (default 0). */
export function runFuzz(
  seed: number,
  cases: number,
  first = 0,
  maxDecodeMs = MAX_DECODE_MS,
): FuzzReport {
  const report: FuzzReport = {
    seed,
    cases,
    failures: [],
    slowestMs: 0,
    slowestIndex: -1,
    slowestKind: "",
    maxDocChars: 0,
  };
  for (let index = first; index < first + cases; index++) {
    const result = runFuzzCase(seed, index, maxDecodeMs);
    if (result.failure !== undefined) {
      report.failures.push({ index, kind: result.kind, failure: result.failure });
    }
    if (result.decodeMs > report.slowestMs) {
      report.slowestMs = result.decodeMs;
      report.slowestIndex = index;
      report.slowestKind = result.kind;
    }
    report.maxDocChars = Math.max(report.maxDocChars, result.docChars);
  }
  return report;
}

/** The one-line summary, e.g. `xmlrpc fuzz: 100000 cases, seed 42, failures: 0, ...`. */
export function summarize(report: FuzzReport): string {
  const megabytes = (report.maxDocChars / 1_000_000).toFixed(1);
  return `xmlrpc fuzz: ${report.cases} cases, seed ${report.seed}, failures: ` +
    `${report.failures.length}, slowest case ${report.slowestMs.toFixed(1)} ms ` +
    `(#${report.slowestIndex}, ${report.slowestKind}), max doc ${megabytes} MB`;
}

function parseFlags(args: readonly string[]): { cases: number; seed: number; only?: number } {
  const flags = new Map<string, number>();
  for (let i = 0; i < args.length; i += 2) {
    const [name, text] = [args[i] ?? "", args[i + 1] ?? ""];
    const value = Number(text);
    if (
      !["--cases", "--seed", "--case"].includes(name) || !/^\d+$/.test(text) ||
      !Number.isSafeInteger(value)
    ) {
      throw new RangeError(
        `Cannot parse arguments ${JSON.stringify(args.join(" "))}: usage: ` +
          "xmlrpc_fuzz.ts [--cases N] [--seed N] [--case N]",
      );
    }
    flags.set(name, value);
  }
  const only = flags.get("--case");
  const parsed = {
    cases: flags.get("--cases") ?? 100_000,
    seed: (flags.get("--seed") ?? Date.now()) >>> 0,
  };
  return only === undefined ? parsed : { ...parsed, only };
}

function print(line: string): void {
  // deno-lint-ignore no-console -- this runner's output is its report
  console.log(line);
}

if (import.meta.main) {
  const { cases, seed, only } = parseFlags(Deno.args);
  const report = only === undefined ? runFuzz(seed, cases) : runFuzz(seed, 1, only);
  for (const { index, kind, failure } of report.failures.slice(0, 20)) {
    print(`FAILED case ${index} (${kind}): ${failure}`);
    print(
      `  replay: deno run --no-prompt tests/fuzz/xmlrpc_fuzz.ts --seed ${seed} --case ${index}`,
    );
  }
  print(summarize(report));
  if (report.failures.length > 0) Deno.exitCode = 1;
}
