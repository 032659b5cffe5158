import assert from "node:assert/strict";
import { checkNonNegative, checkPositive } from "../../lib/check.ts";

Deno.test("checkPositive() returns a finite number above 0 and names anything else", () => {
  assert.equal(checkPositive("timeoutMs", 0.5), 0.5);
  for (const bad of [0, -1, Number.NaN, Infinity]) {
    assert.throws(() => checkPositive("timeoutMs", bad), {
      name: "RangeError",
      message: `Cannot use timeoutMs "${bad}": must be a positive number`,
    });
  }
});

Deno.test("checkNonNegative() also accepts 0", () => {
  assert.equal(checkNonNegative("delayMs", 0), 0);
  assert.throws(() => checkNonNegative("delayMs", -0.1), {
    name: "RangeError",
    message: 'Cannot use delayMs "-0.1": must be a non-negative number',
  });
});
