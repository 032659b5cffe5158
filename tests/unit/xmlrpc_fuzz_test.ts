import assert from "node:assert/strict";
import { runFuzz, summarize } from "../fuzz/xmlrpc_fuzz.ts";

/** Fixed, so the sample is the same on every run; `tests/fuzz/xmlrpc_fuzz.ts` explores more. */
const SEED = 42;
const CASES = 3000;
/**
 * A decode that blows up (quadratic duplicate members, runaway nesting) takes minutes on the
 * hostile cases; linear decoding takes well under a second on an idle machine. The bound sits far
 * from both, so a loaded CI machine cannot fail it while a blow-up still does. `deno task fuzz`
 * keeps the tight 1 s bound for exploration on a quiet machine.
 */
const MAX_DECODE_MS = 20_000;

Deno.test("decodeMethodResponse() and decodeMethodCall() survive a fixed fuzz sample", () => {
  const report = runFuzz(SEED, CASES, 0, MAX_DECODE_MS);
  const failures = report.failures
    .slice(0, 5)
    .map(({ index, kind, failure }) => `case ${index} (${kind}): ${failure}`);
  assert.deepEqual(failures, [], summarize(report));
  assert.equal(report.cases, CASES);
});
