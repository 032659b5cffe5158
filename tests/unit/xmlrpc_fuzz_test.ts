import assert from "node:assert/strict";
import { runFuzz, summarize } from "../fuzz/xmlrpc_fuzz.ts";

/** Fixed, so the sample is the same on every run; `tests/fuzz/xmlrpc_fuzz.ts` explores more. */
const SEED = 42;
const CASES = 3000;

Deno.test("decodeMethodResponse() and decodeMethodCall() survive a fixed fuzz sample", () => {
  const started = performance.now();
  const report = runFuzz(SEED, CASES);
  const elapsedMs = performance.now() - started;
  const failures = report.failures
    .slice(0, 5)
    .map(({ index, kind, failure }) => `case ${index} (${kind}): ${failure}`);
  assert.deepEqual(failures, [], summarize(report));
  assert.equal(report.cases, CASES);
  assert.ok(report.slowestMs < 1000, summarize(report));
  assert.ok(elapsedMs < 10_000, `${CASES} cases took ${elapsedMs.toFixed(0)} ms`);
});
