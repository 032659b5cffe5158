import assert from "node:assert/strict";
import {
  DEFAULT_MAX_SETTLE_MS,
  DEFAULT_QUICK_SETTLE_MS,
  DEFAULT_SETTLE_MS,
  type Hint,
  hintFor,
  REPORT_INITIAL,
  reportRead,
  type ReportState,
  SETTLE_IDLE,
  settleOnHint,
  settleOnTimer,
  settleOptions,
  type SettleState,
} from "../../lib/watch/settle.ts";
import type { TimerHandle } from "../../lib/clock.ts";
import type { VersionRead } from "../../lib/watch/version_file.ts";
import { FakeClock } from "../support/fake_clock.ts";

// The reducer tests use a 10 ms quick settle so that "quick" and "now" stay distinguishable.
const OPTIONS = settleOptions({ quickSettleMs: 10 });
const START = Date.UTC(2026, 0, 1);

/** Drives the reducer the way the watcher does: one timer at the deadline; records read times (ms after START). */
class Driver implements Disposable {
  readonly clock = new FakeClock(START);
  readonly reads: number[] = [];
  state: SettleState = SETTLE_IDLE;
  #timer: TimerHandle | null = null;

  hint(hint: Hint): void {
    const now = this.clock.now();
    const next = settleOnHint(this.state, hint, now, OPTIONS);
    this.state = next;
    this.#timer?.cancel();
    this.#timer = this.clock.setTimer(() => this.#fired(), next.deadlineAt - now);
  }

  /** One write: `hints` at the current time, then `gapMs` of time (firing what is due). */
  write(hints: Hint[], gapMs: number): void {
    for (const hint of hints) this.hint(hint);
    this.clock.tick(gapMs);
  }

  #fired(): void {
    const result = settleOnTimer(this.state, this.clock.now());
    this.state = result.state;
    if (result.read) this.reads.push(this.clock.now() - START);
  }

  [Symbol.dispose](): void {
    this.clock[Symbol.dispose]();
  }
}

const IN_PLACE: Hint[] = ["writing", "closed"]; // modify, then the close after writing
const RENAMED: Hint[] = ["landed"];

Deno.test("settleOptions() has the documented defaults", () => {
  assert.deepEqual(settleOptions(), { quickSettleMs: 1, settleMs: 200, maxSettleMs: 5000 });
  assert.equal(DEFAULT_QUICK_SETTLE_MS, 1);
  assert.equal(DEFAULT_SETTLE_MS, 200);
  assert.equal(DEFAULT_MAX_SETTLE_MS, 5000);
});

Deno.test("settleOptions() rejects negative, non-finite and out-of-order times", () => {
  assert.throws(() => settleOptions({ settleMs: -1 }), {
    name: "RangeError",
    message: 'Cannot use settleMs "-1": must be a non-negative number',
  });
  assert.throws(() => settleOptions({ quickSettleMs: Number.NaN }), RangeError);
  assert.throws(() => settleOptions({ quickSettleMs: 300 }), {
    name: "RangeError",
    message:
      "Cannot use settle times 300/200/5000 ms: need quickSettleMs <= settleMs <= maxSettleMs",
  });
});

Deno.test("settleOnHint() reads a lone renamed-in write after quickSettleMs", () => {
  using driver = new Driver();
  driver.write(RENAMED, 1000);
  assert.deepEqual(driver.reads, [10]);
});

Deno.test("settleOnHint() reads a lone in-place write at its close, with no quiet time", () => {
  using driver = new Driver();
  driver.hint("writing");
  driver.clock.tick(1);
  driver.hint("closed");
  assert.equal(driver.state.phase === "settling" && driver.state.deadlineAt - START, 1);
  driver.clock.tick(1000);
  assert.deepEqual(driver.reads, [1]);
});

Deno.test("settleOnHint() reads a burst of 10 writes 1 ms apart once, settleMs after the last", () => {
  using driver = new Driver();
  for (let i = 0; i < 10; i++) driver.write(RENAMED, 1);
  driver.clock.tick(1000);
  assert.deepEqual(driver.reads, [9 + 200]);
});

Deno.test("settleOnHint() reads a burst of in-place writes at its first close and settleMs after the last", () => {
  using driver = new Driver();
  for (let i = 0; i < 10; i++) driver.write(IN_PLACE, 1);
  driver.clock.tick(1000);
  // The first close says its write is done: read at once. The nine after it are a burst.
  assert.deepEqual(driver.reads, [0, 9 + 200]);
});

Deno.test("settleOnHint() reads writes every 50 ms forever only every maxSettleMs", () => {
  using driver = new Driver();
  for (let i = 0; i < 250; i++) driver.write(IN_PLACE, 50); // 12.5 s of writes
  // The first write looks lone and is read at once; the ones after it, arriving within settleMs
  // of the previous hint, are a burst that is never quiet: read when maxSettleMs runs out.
  assert.deepEqual(driver.reads, [0, 50 + 5000, 5050 + 5000]);
});

Deno.test("settleOnHint() waits settleMs of quiet after a bare modify", () => {
  using driver = new Driver();
  driver.write(["writing"], 1000);
  assert.deepEqual(driver.reads, [200]);
});

Deno.test("settleOnHint() keeps waiting while a writer is still writing, then reads at its close", () => {
  using driver = new Driver();
  driver.write(["writing"], 150); // a slow writer: modify, modify, then close
  driver.write(["writing"], 150);
  driver.write(["landed"], 1000);
  assert.deepEqual(driver.reads, [300 + 10]);
});

Deno.test("settleOnHint() treats a removal after a landed write as clean-up, not a burst", () => {
  using driver = new Driver();
  driver.write(["landed"], 1); // ..data renamed over
  driver.write(["removed", "removed"], 1000); // the old ..2026_... directory deleted
  assert.deepEqual(driver.reads, [1 + 10]);
});

Deno.test("settleOnHint() waits settleMs after a deletion, and reads a recreation as one quick write", () => {
  using driver = new Driver();
  driver.write(["removed"], 1000);
  assert.deepEqual(driver.reads, [200]);
  driver.write(["removed"], 1); // delete, then create + write + close 1 ms later
  driver.write(["writing", "writing", "landed"], 1000);
  assert.deepEqual(driver.reads, [200, 1001 + 10]);
});

Deno.test("settleOnHint() treats lone writes far apart as separate quick reads", () => {
  using driver = new Driver();
  driver.write(RENAMED, 1000);
  driver.write(RENAMED, 1000);
  assert.deepEqual(driver.reads, [10, 1010]);
});

Deno.test("settleOnHint() reads 20 in-place writes 10 ms apart twice: the first, then the final", () => {
  using driver = new Driver();
  for (let i = 0; i < 20; i++) driver.write(IN_PLACE, 10);
  driver.clock.tick(1000);
  // The first write is read at once (nothing says more will come); the 19 after it are a burst,
  // read once when it has been quiet for settleMs after the last (at 190 ms).
  assert.deepEqual(driver.reads, [0, 190 + 200]);
});

Deno.test("settleOnHint() waits for quiet while a writer keeps the file open (no close)", () => {
  using driver = new Driver();
  for (let i = 0; i < 5; i++) driver.write(["writing"], 50); // modify every 50 ms, never closed
  driver.clock.tick(1000);
  assert.deepEqual(driver.reads, [200 + 200]);
});

Deno.test("settleOnHint() reads a truncate-then-write in one open at its close", () => {
  using driver = new Driver();
  driver.write(["writing"], 0); // O_TRUNC
  driver.write(["writing"], 1); // the write
  driver.write(["closed"], 1000); // the close
  assert.deepEqual(driver.reads, [1]);
});

Deno.test("settleOnTimer() ignores a timer that fires before the deadline or while idle", () => {
  const state = settleOnHint(SETTLE_IDLE, "writing", 0, OPTIONS);
  assert.deepEqual(settleOnTimer(state, 199), { state, read: false });
  assert.deepEqual(settleOnTimer(SETTLE_IDLE, 500), { state: SETTLE_IDLE, read: false });
  assert.deepEqual(settleOnTimer(state, 200), {
    state: { phase: "idle", lastHintAt: 0 },
    read: true,
  });
});

Deno.test("hintFor() maps Deno event kinds and roles to hints", () => {
  // The close after an in-place write: the writer is done, like a rename.
  assert.equal(hintFor("access", "file"), "closed");
  assert.equal(hintFor("rename", "file"), "landed");
  assert.equal(hintFor("modify", "file"), "writing");
  assert.equal(hintFor("create", "file"), "writing");
  assert.equal(hintFor("other", "file"), "writing");
  assert.equal(hintFor("remove", "file"), "removed");
  assert.equal(hintFor("create", "link"), "landed");
  assert.equal(hintFor("rename", "link"), "landed");
  assert.equal(hintFor("remove", "link"), "removed");
  assert.equal(hintFor("modify", "self"), "removed");
});

Deno.test("FakeClock fires timers in time order, including ones scheduled by callbacks", async () => {
  using clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimer(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimer(() => {
    fired.push(`a@${clock.now()}`);
    clock.setTimer(() => fired.push(`c@${clock.now()}`), 5);
  }, 10);
  const cancelled = clock.setTimer(() => fired.push("never"), 12);
  cancelled.cancel();
  clock.tick(14);
  assert.deepEqual(fired, ["a@10"]);
  assert.equal(clock.now(), 14);
  await clock.tickAsync(10);
  assert.deepEqual(fired, ["a@10", "c@15", "b@20"]);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(clock.nextDueAt, null);
  assert.throws(() => clock.tick(-1), RangeError);
});

Deno.test("FakeClock cancels pending timers and refuses use once disposed", () => {
  const clock = new FakeClock(0);
  {
    using scoped = clock;
    scoped.setTimer(() => {}, 10);
    assert.equal(scoped.pendingTimers, 1);
  }
  assert.equal(clock.pendingTimers, 0);
  assert.throws(() => clock.now(), { message: "Cannot use the fake clock: it was disposed" });
});

const v1 = { hash: "a".repeat(64), label: "v1", size: 3 };
const v2 = { hash: "b".repeat(64), label: "v2", size: 3 };

/** Folds reads through reportRead(), collecting what would be reported and warned. */
function reportAll(reads: VersionRead[], state: ReportState = REPORT_INITIAL) {
  const out: string[] = [];
  for (const read of reads) {
    const decision = reportRead(state, read);
    state = decision.state;
    if (decision.report !== null) out.push(decision.report);
    if (decision.warn !== null) out.push(`warn:${decision.warn}`);
  }
  return { out, state };
}

Deno.test("reportRead() reports a version only when its hash changes", () => {
  const seen = (version: typeof v1): VersionRead => ({ kind: "version", version });
  const { out, state } = reportAll([
    seen(v1),
    seen(v1),
    seen({ ...v1, label: "relabel" }),
    seen(v2),
  ]);
  assert.deepEqual(out, ["VersionSeen", "VersionSeen"]);
  assert.equal(state.last, v2);
});

Deno.test("reportRead() reports missing once, and nothing when the same content comes back", () => {
  const { out } = reportAll([
    { kind: "version", version: v1 },
    { kind: "missing" },
    { kind: "empty" },
    { kind: "missing" },
    { kind: "version", version: v1 },
    { kind: "missing" },
    { kind: "version", version: v2 },
  ]);
  assert.deepEqual(out, [
    "VersionSeen",
    "VersionMissing",
    "warn:missing",
    "VersionMissing",
    "warn:missing",
    "VersionSeen",
  ]);
});

Deno.test("reportRead() ignores an empty file and warns once per distinct unreadable reason", () => {
  const denied: VersionRead = { kind: "unreadable", reason: "permission denied" };
  const { out, state } = reportAll([
    { kind: "empty" },
    denied,
    denied,
    { kind: "unreadable", reason: "is a directory" },
    denied,
    { kind: "empty" },
    denied,
  ]);
  assert.deepEqual(out, Array(4).fill("warn:unreadable"));
  assert.equal(state.last, null);
  assert.equal(state.unreadableReason, "permission denied");
});
