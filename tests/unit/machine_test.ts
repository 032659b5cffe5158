import assert from "node:assert/strict";
import {
  initialState,
  type MachineCommand,
  type MachineContext,
  type MachineEvent,
  type MachineState,
  outcomeOf,
  type RestartReport,
  transition,
  type VersionRef,
} from "../../lib/machine.ts";

const v = (label: string): VersionRef => ({ hash: `hash-${label}`, label });
const A = v("A"), B = v("B"), C = v("C");

function context(overrides: Partial<MachineContext> = {}): MachineContext {
  return {
    fixedDelayMs: 0,
    randomDelayMs: 0,
    hasPreHook: false,
    hasPostHook: false,
    random: () => 0.5,
    ...overrides,
  };
}

const report = (overrides: Partial<RestartReport> = {}): RestartReport => ({
  restarted: ["g:a"],
  failed: [],
  skipped: [],
  unknown: [],
  ...overrides,
});

/** Feeds events in order; returns the final state and every non-Log command, in order. */
function drive(state: MachineState, events: MachineEvent[], ctx = context()) {
  const commands: MachineCommand[] = [];
  for (const event of events) {
    const result = transition(state, event, ctx);
    state = result.state;
    commands.push(...result.commands.filter((c) => c.type !== "Log"));
  }
  return { state, commands };
}

const kinds = (commands: MachineCommand[]) => commands.map((c) => c.type);
const restartVersions = (commands: MachineCommand[]) =>
  commands.flatMap((c) => c.type === "Restart" ? [c.cycle.version.label] : []);

Deno.test("transition() does nothing for the baseline version seen again", () => {
  const { state, commands } = drive(initialState(A), [{ type: "VersionSeen", version: A }]);
  assert.equal(state.phase, "idle");
  assert.deepEqual(commands, []);
});

Deno.test("transition() delays by fixed plus random, then restarts", () => {
  const ctx = context({ fixedDelayMs: 10_000, randomDelayMs: 4_000, random: () => 0.25 });
  const first = drive(initialState(A), [{ type: "VersionSeen", version: B }], ctx);
  assert.equal(first.state.phase, "delaying");
  assert.deepEqual(first.commands, [
    { type: "StartTimer", timerId: 1, delayMs: 11_000, purpose: "delay" },
  ]);
  const second = drive(first.state, [{ type: "TimerFired", timerId: 1 }], ctx);
  assert.equal(second.state.phase, "restarting");
  assert.deepEqual(restartVersions(second.commands), ["B"]);
  assert.equal((second.commands[0] as { cycle: { previous: VersionRef } }).cycle.previous, A);
});

Deno.test("transition() coalesces a burst during the delay into one restart to the newest", () => {
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "VersionSeen", version: C },
    { type: "TimerFired", timerId: 1 },
    { type: "RestartDone", report: report() },
  ]);
  assert.deepEqual(kinds(commands), ["StartTimer", "Restart", "CycleDone"]);
  assert.deepEqual(restartVersions(commands), ["C"]);
  assert.equal(state.phase, "idle");
  assert.equal(state.applied, C);
});

Deno.test("transition() runs one more cycle for a version that arrives during the restart", () => {
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: C },
    { type: "VersionSeen", version: v("D") },
    { type: "RestartDone", report: report() },
    { type: "TimerFired", timerId: 2 },
    { type: "RestartDone", report: report() },
  ]);
  assert.deepEqual(restartVersions(commands), ["B", "D"]);
  assert.equal(state.applied?.label, "D");
  assert.equal(state.phase, "idle");
});

Deno.test("transition() never starts a second restart while one runs", () => {
  const { commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: C },
    { type: "TimerFired", timerId: 1 }, // stale timer id: ignored
  ]);
  assert.deepEqual(restartVersions(commands), ["B"]);
});

Deno.test("transition() skips the restart when the file went back to the applied version", () => {
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "VersionSeen", version: A },
    { type: "TimerFired", timerId: 1 },
  ]);
  assert.deepEqual(restartVersions(commands), []);
  assert.equal(state.phase, "idle");
});

Deno.test("transition() runs pre, restart, post in order with the outcome", () => {
  const ctx = context({ hasPreHook: true, hasPostHook: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "PreHookDone", ok: true },
    {
      type: "RestartDone",
      report: report({ failed: [{ namespec: "g:b", reason: "SPAWN_ERROR" }] }),
    },
    { type: "PostHookDone" },
  ], ctx);
  assert.deepEqual(kinds(commands), [
    "StartTimer",
    "RunPreHook",
    "Restart",
    "RunPostHook",
    "CycleDone", // announced only after the post command, for the fleet
  ]);
  const post = commands[3] as Extract<MachineCommand, { type: "RunPostHook" }>;
  assert.equal(post.outcome, "partial");
  assert.equal((commands[4] as Extract<MachineCommand, { type: "CycleDone" }>).outcome, "partial");
  assert.equal(state.phase, "idle");
});

Deno.test("transition() aborts on a failed pre hook, leaves programs alone, and tells post", () => {
  const ctx = context({ hasPreHook: true, hasPostHook: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "PreHookDone", ok: false, reason: "pre-restart command exited with 1" },
    { type: "PostHookDone" },
    { type: "VersionSeen", version: B }, // the same version again: not retried
  ], ctx);
  assert.deepEqual(kinds(commands), ["StartTimer", "RunPreHook", "RunPostHook", "CycleDone"]);
  const post = commands[2] as Extract<MachineCommand, { type: "RunPostHook" }>;
  assert.equal(post.outcome, "aborted");
  assert.equal(post.reason, "pre-restart command exited with 1");
  assert.equal(state.applied, A);
  assert.equal(state.phase, "idle");
});

Deno.test("transition() tries again with the next version after an aborted one", () => {
  const ctx = context({ hasPreHook: true });
  const { commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "PreHookDone", ok: false },
    { type: "VersionSeen", version: C },
    { type: "TimerFired", timerId: 2 },
    { type: "PreHookDone", ok: true },
  ], ctx);
  assert.deepEqual(restartVersions(commands), ["C"]);
});

Deno.test("transition() retries with capped backoff while supervisord is unreachable", () => {
  let state = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
  ]).state;
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const result = drive(state, [{ type: "RestartUnavailable", reason: "no such file" }]);
    const timer = result.commands[0] as Extract<MachineCommand, { type: "StartTimer" }>;
    delays.push(timer.delayMs);
    assert.equal(result.state.phase, "retrying");
    state = drive(result.state, [{ type: "TimerFired", timerId: timer.timerId }]).state;
    assert.equal(state.phase, "restarting");
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
  // The pending restart survives the outage and completes once supervisord answers.
  const done = drive(state, [{ type: "RestartDone", report: report() }]);
  assert.equal(done.state.applied, B);
  assert.equal(done.state.phase, "idle");
});

Deno.test("transition() restarts to the newest version after an outage", () => {
  const { commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "RestartUnavailable", reason: "refused" },
    { type: "VersionSeen", version: C },
    { type: "TimerFired", timerId: 2 },
  ]);
  assert.deepEqual(restartVersions(commands), ["B", "C"]);
});

Deno.test("transition() logs the retry loudly only at first, then every 10th attempt", () => {
  let state = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
  ]).state;
  const logged: number[] = [];
  for (let attempt = 1; attempt <= 20; attempt++) {
    const result = transition(state, { type: "RestartUnavailable", reason: "x" }, context());
    if (result.commands.some((c) => c.type === "Log")) logged.push(attempt);
    state =
      transition(result.state, { type: "TimerFired", timerId: result.state.timerId }, context())
        .state;
  }
  assert.deepEqual(logged, [1, 2, 3, 10, 20]);
});

Deno.test("transition() ignores events a phase does not handle", () => {
  const idle = initialState(A);
  for (
    const event of [
      { type: "PreHookDone", ok: true },
      { type: "RestartDone", report: report() },
      { type: "PostHookDone" },
      { type: "TimerFired", timerId: 0 },
      { type: "VersionMissing" },
    ] as MachineEvent[]
  ) {
    assert.deepEqual(transition(idle, event, context()), { state: idle, commands: [] });
  }
});

Deno.test("transition() starts from a missing baseline when the file appears", () => {
  const { commands } = drive(initialState(null), [
    { type: "VersionSeen", version: A },
    { type: "TimerFired", timerId: 1 },
  ]);
  assert.deepEqual(restartVersions(commands), ["A"]);
});

Deno.test("outcomeOf() names the outcome from the report", () => {
  assert.equal(outcomeOf(report()), "success");
  assert.equal(outcomeOf(report({ restarted: [] })), "success");
  assert.equal(outcomeOf(report({ failed: [{ namespec: "x", reason: "y" }] })), "partial");
  assert.equal(
    outcomeOf(report({ restarted: [], failed: [{ namespec: "x", reason: "y" }] })),
    "failed",
  );
  // A halted rolling restart is a failure for the post command (it names the broken program).
  assert.equal(
    outcomeOf(report({ halted: true, failed: [{ namespec: "x", reason: "y" }] })),
    "failed",
  );
});

Deno.test("transition() catches up only the stale programs, after the delay", () => {
  const ctx = context({ fixedDelayMs: 1_000 });
  const { state, commands } = drive(initialState(A), [
    { type: "CatchUpNeeded", version: A, namespecs: ["g:a"] },
    { type: "TimerFired", timerId: 1 },
  ], ctx);
  assert.deepEqual(kinds(commands), ["StartTimer", "Restart"]);
  const restart = commands[1] as Extract<MachineCommand, { type: "Restart" }>;
  assert.deepEqual(restart.cycle.only, ["g:a"]);
  assert.equal(restart.cycle.version, A);
  const done = drive(state, [{ type: "RestartDone", report: report() }], ctx);
  assert.equal(done.state.phase, "idle");
  assert.equal(done.state.applied, A);
});

Deno.test("transition() drops a catch-up when a newer version arrives first", () => {
  const { commands } = drive(initialState(A), [
    { type: "CatchUpNeeded", version: A, namespecs: ["g:a"] },
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
  ]);
  const restart = commands.find((c) => c.type === "Restart") as Extract<
    MachineCommand,
    { type: "Restart" }
  >;
  assert.equal(restart.cycle.version, B);
  assert.equal(restart.cycle.only, undefined);
});

Deno.test("transition() ignores a catch-up for a version that is no longer current", () => {
  const busy = drive(initialState(A), [{ type: "VersionSeen", version: B }]).state;
  assert.deepEqual(
    transition(busy, { type: "CatchUpNeeded", version: A, namespecs: ["g:a"] }, context()),
    { state: busy, commands: [] },
  );
  const idle = initialState(A);
  assert.deepEqual(
    transition(idle, { type: "CatchUpNeeded", version: A, namespecs: [] }, context()).commands,
    [],
  );
});

Deno.test("transition() treats a fleet halt as not applied, tells post 'halted'", () => {
  const ctx = context({ hasPostHook: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "RestartDone", report: report({ restarted: [], fleetHalted: "web-1 failed" }) },
    { type: "PostHookDone" },
    { type: "VersionSeen", version: B },
  ], ctx);
  const post = commands.find((c) => c.type === "RunPostHook") as Extract<
    MachineCommand,
    { type: "RunPostHook" }
  >;
  assert.equal(post.outcome, "halted");
  assert.equal(post.reason, "web-1 failed");
  assert.equal(state.applied, A);
  assert.equal(state.phase, "idle");
  assert.deepEqual(restartVersions(commands), ["B"]);
});
