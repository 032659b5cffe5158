/**
 * stepReady(), driven the way lib/readiness.ts drives it, on a fake clock: each attempt's result
 * and duration in, the attempts' start times, their time limits and the final state out.
 */
import assert from "node:assert/strict";
import {
  beginReady,
  type ReadyLimits,
  type ReadyStep,
  secondsText,
  stepReady,
} from "../../lib/_ready_program.ts";
import { FakeClock } from "../support/fake_clock.ts";

const LIMITS: ReadyLimits = { intervalMs: 500, timeoutMs: 60_000 };

interface Attempt {
  ok: boolean;
  detail: string | null;
  /** How long the attempt takes, in ms. */
  takesMs: number;
}

/** Runs the reducer to its end: the attempts come from `attempts` in order (the last repeats). */
function drive(clock: FakeClock, attempts: Attempt[], limits = LIMITS) {
  const started: { at: number; limitMs: number }[] = [];
  const t0 = clock.now();
  let step: ReadyStep = beginReady(clock.now(), limits);
  while (step.action.type !== "Finish") {
    if (step.action.type === "Attempt") {
      const next = attempts[Math.min(started.length, attempts.length - 1)]!;
      started.push({ at: clock.now() - t0, limitMs: step.action.timeLimitMs });
      clock.tick(Math.min(next.takesMs, step.action.timeLimitMs));
      step = stepReady(step.state, {
        type: "AttemptEnded",
        now: clock.now(),
        ok: next.ok && next.takesMs <= step.action.timeLimitMs,
        detail: next.takesMs <= step.action.timeLimitMs ? next.detail : "timed out",
      }, limits);
    } else if (step.action.type === "WaitUntil") {
      clock.tick(step.action.at - clock.now());
      step = stepReady(step.state, { type: "TimeReached", now: clock.now() }, limits);
    } else {
      throw new Error(`unexpected action ${step.action.type}`);
    }
  }
  return { state: step.state, started };
}

Deno.test("stepReady() is ready at the first attempt that succeeds, after the time since RUNNING", () => {
  using clock = new FakeClock();
  const { state, started } = drive(clock, [
    { ok: false, detail: "not yet", takesMs: 20 },
    { ok: false, detail: "not yet", takesMs: 20 },
    { ok: true, detail: null, takesMs: 30 },
  ]);
  assert.deepEqual(started.map((s) => s.at), [0, 500, 1000]);
  assert.equal(state.phase, "ready");
  assert.equal(state.phase === "ready" && state.afterMs, 1030);
});

Deno.test("stepReady() starts the next attempt at once when one took longer than the interval", () => {
  using clock = new FakeClock();
  const { started } = drive(clock, [
    { ok: false, detail: "slow", takesMs: 800 },
    { ok: true, detail: null, takesMs: 10 },
  ]);
  assert.deepEqual(started.map((s) => s.at), [0, 800]);
});

Deno.test("stepReady() gives each attempt only the time left before the deadline", () => {
  using clock = new FakeClock();
  const { started } = drive(clock, [{ ok: false, detail: "HTTP 503", takesMs: 10 }], {
    intervalMs: 400,
    timeoutMs: 1_000,
  });
  assert.deepEqual(started, [
    { at: 0, limitMs: 1_000 },
    { at: 400, limitMs: 600 },
    { at: 800, limitMs: 200 },
  ]);
});

Deno.test("stepReady() is not ready after the timeout, with the last thing an attempt said", () => {
  using clock = new FakeClock();
  const { state, started } = drive(clock, [
    { ok: false, detail: "HTTP 502 Bad Gateway", takesMs: 5 },
    { ok: false, detail: "HTTP 503 Service Unavailable", takesMs: 5 },
  ], { intervalMs: 500, timeoutMs: 2_000 });
  assert.equal(started.length, 4);
  assert.deepEqual(state, {
    phase: "not-ready",
    since: Date.UTC(2026, 0, 1),
    last: "HTTP 503 Service Unavailable",
    reason: "not ready after 2 s: HTTP 503 Service Unavailable",
  });
});

Deno.test("stepReady() is not ready when an attempt outlives the deadline", () => {
  using clock = new FakeClock();
  const { state, started } = drive(clock, [{ ok: true, detail: null, takesMs: 90_000 }]);
  assert.equal(started.length, 1);
  assert.equal(state.phase, "not-ready");
  assert.equal(state.phase === "not-ready" && state.reason, "not ready after 60 s: timed out");
  assert.equal(clock.now() - Date.UTC(2026, 0, 1), 60_000);
});

Deno.test("stepReady() stops at Aborted and ignores events once finished", () => {
  const now = 1_000;
  const begun = beginReady(now, LIMITS);
  const failed = stepReady(begun.state, {
    type: "AttemptEnded",
    now: now + 10,
    ok: false,
    detail: "exited with status 1",
  }, LIMITS);
  assert.deepEqual(failed.action, { type: "WaitUntil", at: now + 500 });
  const aborted = stepReady(failed.state, { type: "Aborted", now: now + 100 }, LIMITS);
  assert.equal(aborted.state.phase, "not-ready");
  assert.deepEqual(aborted.action, { type: "Finish" });
  const after = stepReady(aborted.state, { type: "TimeReached", now: now + 500 }, LIMITS);
  assert.equal(after.state, aborted.state);
  assert.deepEqual(after.action, { type: "Finish" });
  // A waiting program woken early keeps waiting; a checking one ignores the time.
  assert.deepEqual(
    stepReady(failed.state, { type: "TimeReached", now: now + 200 }, LIMITS).action,
    { type: "WaitUntil", at: now + 500 },
  );
  assert.deepEqual(
    stepReady(begun.state, { type: "TimeReached", now: now + 200 }, LIMITS).action,
    { type: "None" },
  );
});

Deno.test("secondsText() writes the timeout the way the failure reason shows it", () => {
  assert.deepEqual([60_000, 2_500, 1].map(secondsText), ["60 s", "2.5 s", "0.001 s"]);
});
