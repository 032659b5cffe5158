import assert from "node:assert/strict";
import { backoffMs, formatDuration, restartDelayMs } from "../../lib/delay.ts";

Deno.test("restartDelayMs() adds a uniform share of the random delay to the fixed one", () => {
  assert.equal(restartDelayMs(10_000, 0, () => 0.9), 10_000);
  assert.equal(restartDelayMs(0, 60_000, () => 0), 0);
  assert.equal(restartDelayMs(0, 60_000, () => 0.5), 30_000);
  assert.equal(restartDelayMs(5_000, 10_000, () => 0.999999), 15_000);
});

Deno.test("restartDelayMs() rejects negative or non-finite delays", () => {
  assert.throws(() => restartDelayMs(-1, 0, Math.random), /Cannot use fixedMs "-1"/);
  assert.throws(() => restartDelayMs(0, Infinity, Math.random), RangeError);
});

Deno.test("backoffMs() doubles from 250 ms and caps at 10 s", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 100].map((n) => backoffMs(n)), [
    250,
    500,
    1000,
    2000,
    4000,
    8000,
    10000,
    10000,
  ]);
  assert.equal(backoffMs(3, { initialMs: 100, maxMs: 500 }), 500);
  assert.throws(() => backoffMs(-1), RangeError);
});

Deno.test("formatDuration() writes durations for humans", () => {
  assert.equal(formatDuration(250), "250 ms");
  assert.equal(formatDuration(12_500), "12.5 seconds");
  assert.equal(formatDuration(10_000), "10 seconds");
  assert.equal(formatDuration(1_000), "1 second");
  assert.equal(formatDuration(125_000), "2 minutes 5 seconds");
  assert.deepEqual(
    [150, 999, 1000, 1500, 10_000, 12_549, 60_000].map(formatDuration),
    ["150 ms", "999 ms", "1 second", "1.5 seconds", "10 seconds", "12.5 seconds", "1 minute"],
  );
  assert.equal(formatDuration(60_000), "1 minute");
});
