import assert from "node:assert/strict";
import {
  initialState,
  type MachineCommand,
  type MachineContext,
  type MachineEvent,
  type MachineState,
  outcomeOf,
  transition,
  type VersionRef,
} from "../../lib/machine.ts";
import type { RestartReport } from "../../lib/restart_report.ts";

const v = (label: string): VersionRef => ({ hash: `hash-${label}`, label });
const A = v("A"), B = v("B"), C = v("C");

function context(overrides: Partial<MachineContext> = {}): MachineContext {
  return {
    fixedDelayMs: 0,
    randomDelayMs: 0,
    hasPreHook: false,
    hasPostHook: false,
    fleet: false,
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
    { type: "StartTimer", timerId: 1, delayMs: 11_000 },
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

Deno.test("transition() logs a retry only a person can cure (socket refused) as an ERROR", () => {
  const state = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
  ]).state;
  const levels = (needsPerson: boolean) =>
    transition(state, { type: "RestartUnavailable", reason: "x", needsPerson }, context())
      .commands.flatMap((c) => c.type === "Log" ? [c.level] : []);
  assert.deepEqual(levels(true), ["error"]);
  assert.deepEqual(levels(false), ["warning"]);
});

Deno.test("transition() ignores events a phase does not handle", () => {
  const idle = initialState(A);
  for (
    const event of [
      { type: "PreHookDone", ok: true },
      { type: "RestartDone", report: report() },
      { type: "PostHookDone" },
      { type: "TimerFired", timerId: 0 },
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

Deno.test("outcomeOf() is never success when a requested name matched nothing or a stop cut the restart short", () => {
  assert.equal(outcomeOf(report({ unknown: ["nosuch"] })), "partial");
  assert.equal(outcomeOf(report({ restarted: [], unknown: ["nosuch"] })), "failed");
  assert.equal(outcomeOf(report({ untouched: ["g:b"] })), "partial");
  assert.equal(outcomeOf(report({ restarted: [], untouched: ["g:a"] })), "failed");
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
  const ctx = context({ hasPostHook: true, fleet: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "FleetHalted", waitId: 1, version: B, reason: "web-1 failed" },
    { type: "PostHookDone" },
    { type: "VersionSeen", version: B },
  ], ctx);
  assert.deepEqual(kinds(commands), ["StartTimer", "AcquireFleetSlot", "RunPostHook", "CycleDone"]);
  const post = commands[2] as Extract<MachineCommand, { type: "RunPostHook" }>;
  assert.equal(post.outcome, "halted");
  assert.equal(post.reason, "web-1 failed");
  // The fleet is told this host skipped it (CycleDone with a cycle that went through the fleet).
  assert.equal(
    (commands[3] as Extract<MachineCommand, { type: "CycleDone" }>).cycle.fleet,
    "halted",
  );
  assert.equal(state.applied, A);
  assert.equal(state.phase, "idle");
  assert.deepEqual(restartVersions(commands), []);
});

// --- Failures of a step (issue 13, item 4): every one ends the cycle; the next version applies.

type Command<T extends MachineCommand["type"]> = Extract<MachineCommand, { type: T }>;
const find = <T extends MachineCommand["type"]>(commands: MachineCommand[], type: T) =>
  commands.find((c) => c.type === type) as Command<T>;

Deno.test("transition() aborts the cycle when the pre-restart step throws; the next version applies", () => {
  const ctx = context({ hasPreHook: true, hasPostHook: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "StepFailed", step: "pre-restart", reason: "RangeError: bad timeout" },
    { type: "VersionSeen", version: C }, // seen while post runs
    { type: "PostHookDone" },
    { type: "TimerFired", timerId: 2 },
    { type: "PreHookDone", ok: true },
  ], ctx);
  assert.deepEqual(kinds(commands), [
    "StartTimer",
    "RunPreHook",
    "RunPostHook",
    "CycleDone",
    "StartTimer",
    "RunPreHook",
    "Restart",
  ]);
  const done = find(commands, "CycleDone");
  assert.equal(done.outcome, "aborted");
  assert.equal(done.reason, "pre-restart step failed: RangeError: bad timeout");
  assert.equal(find(commands, "RunPostHook").outcome, "aborted");
  assert.deepEqual(restartVersions(commands), ["C"]);
  assert.equal(state.phase, "restarting");
  assert.equal(state.applied, A);
});

Deno.test("transition() finishes the cycle when the post-restart step throws", () => {
  const ctx = context({ hasPostHook: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: C },
    { type: "RestartDone", report: report() },
    { type: "StepFailed", step: "post-restart", reason: "boom" },
    { type: "TimerFired", timerId: 2 },
  ], ctx);
  assert.deepEqual(kinds(commands), [
    "StartTimer",
    "Restart",
    "RunPostHook",
    "CycleDone",
    "StartTimer",
    "Restart",
  ]);
  // The outcome was decided before the post command: the failure does not change it.
  assert.equal(find(commands, "CycleDone").outcome, "success");
  assert.deepEqual(restartVersions(commands), ["B", "C"]);
  assert.equal(state.applied, B);
});

Deno.test("transition() fails the cycle when the restart throws; not retried, a newer version is", () => {
  const ctx = context({ hasPostHook: true });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "StepFailed", step: "restarting", reason: "UNKNOWN_METHOD" },
    { type: "PostHookDone" },
    { type: "VersionSeen", version: B }, // the same version again: not retried
    { type: "VersionSeen", version: C },
    { type: "TimerFired", timerId: 2 },
  ], ctx);
  const post = find(commands, "RunPostHook");
  assert.equal(post.outcome, "failed");
  assert.equal(post.reason, "UNKNOWN_METHOD");
  assert.equal(find(commands, "CycleDone").outcome, "failed");
  assert.deepEqual(restartVersions(commands), ["B", "C"]);
  assert.equal(state.abandoned, B);
});

Deno.test("transition() ignores a step failure from another phase", () => {
  const restarting = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
  ]).state;
  for (const step of ["pre-restart", "post-restart"] as const) {
    assert.deepEqual(
      transition(restarting, { type: "StepFailed", step, reason: "x" }, context()),
      { state: restarting, commands: [] },
    );
  }
});

// --- The fleet wait (issue 13, items 5, 7, 12).

const fleetCtx = (overrides: Partial<MachineContext> = {}) =>
  context({ fleet: true, ...overrides });

Deno.test("transition() waits for the fleet after the delay and before the pre command", () => {
  const ctx = fleetCtx({ hasPreHook: true, hasPostHook: true, fixedDelayMs: 1_000 });
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "PreHookDone", ok: true }, // not waited for yet: ignored
    { type: "FleetSlotGranted", waitId: 1, version: B, canary: false },
    { type: "PreHookDone", ok: true },
    { type: "RestartDone", report: report() },
    { type: "PostHookDone" },
  ], ctx);
  assert.deepEqual(kinds(commands), [
    "StartTimer",
    "AcquireFleetSlot",
    "RunPreHook",
    "Restart",
    "RunPostHook",
    "CycleDone", // frees the slot, after the post command
  ]);
  assert.deepEqual(find(commands, "AcquireFleetSlot"), {
    type: "AcquireFleetSlot",
    waitId: 1,
    version: B,
  });
  assert.equal(find(commands, "CycleDone").cycle.fleet, "slot");
  assert.equal(state.phase, "idle");
  assert.equal(state.applied, B);
});

Deno.test("transition() without the fleet (or in a dry run) never waits for it", () => {
  const { commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "RestartDone", report: report() },
  ]);
  assert.deepEqual(kinds(commands), ["StartTimer", "Restart", "CycleDone"]);
  assert.equal(find(commands, "CycleDone").cycle.fleet, undefined); // nothing to report
});

Deno.test("transition() waiting for the fleet, sees v2 then v3: waits for and applies only v3", () => {
  const V2 = v("v2"), V3 = v("v3");
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: V2 },
    { type: "VersionSeen", version: V3 },
    { type: "FleetWaitEnded", waitId: 1 }, // the cancelled wait for B
    { type: "FleetSlotGranted", waitId: 2, version: V3, canary: true },
    { type: "RestartDone", report: report() },
  ], fleetCtx());
  assert.deepEqual(kinds(commands), [
    "StartTimer",
    "AcquireFleetSlot",
    "CancelFleetWait",
    "AcquireFleetSlot",
    "Restart",
    "CycleDone",
  ]);
  const acquires = commands.filter((c) => c.type === "AcquireFleetSlot") as Command<
    "AcquireFleetSlot"
  >[];
  assert.deepEqual(acquires.map((c) => [c.waitId, c.version.label]), [[1, "B"], [2, "v3"]]);
  assert.deepEqual(restartVersions(commands), ["v3"]);
  assert.equal(state.applied, V3);
  assert.equal(state.phase, "idle");
});

Deno.test("transition() releases a slot granted to a wait it had cancelled, then waits for the newest", () => {
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: C },
    { type: "FleetSlotGranted", waitId: 1, version: B, canary: false }, // raced the cancel
  ], fleetCtx());
  assert.deepEqual(commands.slice(2), [
    { type: "CancelFleetWait", waitId: 1 },
    { type: "ReleaseFleetSlot", version: B },
    { type: "AcquireFleetSlot", waitId: 2, version: C },
  ]);
  assert.equal(state.phase, "fleet-wait");
});

Deno.test("transition() gives back a stale grant and ignores other stale fleet answers", () => {
  const waiting = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: C },
    { type: "FleetWaitEnded", waitId: 1 },
  ], fleetCtx()).state;
  assert.equal(waiting.waitId, 2);
  const stale = transition(
    waiting,
    { type: "FleetSlotGranted", waitId: 1, version: B, canary: false },
    fleetCtx(),
  );
  assert.equal(stale.state, waiting);
  assert.deepEqual(stale.commands.filter((c) => c.type !== "Log"), [
    { type: "ReleaseFleetSlot", version: B },
  ]);
  for (
    const event of [
      { type: "FleetHalted", waitId: 1, version: B, reason: "x" },
      { type: "FleetUncoordinated", waitId: 1, version: B },
      { type: "FleetWaitEnded", waitId: 1 },
    ] as MachineEvent[]
  ) {
    assert.deepEqual(transition(waiting, event, fleetCtx()), { state: waiting, commands: [] });
  }
  // A duplicate grant for the slot the cycle holds is not given back.
  const holding = drive(waiting, [
    { type: "FleetSlotGranted", waitId: 2, version: C, canary: false },
  ], fleetCtx()).state;
  assert.equal(holding.phase, "restarting");
  assert.deepEqual(
    transition(
      holding,
      { type: "FleetSlotGranted", waitId: 2, version: C, canary: false },
      fleetCtx(),
    ),
    { state: holding, commands: [] },
  );
});

Deno.test("transition() stops waiting when the file goes back to the applied version", () => {
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "VersionSeen", version: A },
    { type: "FleetWaitEnded", waitId: 1 },
  ], fleetCtx());
  assert.deepEqual(kinds(commands), ["StartTimer", "AcquireFleetSlot", "CancelFleetWait"]);
  assert.equal(state.phase, "idle");
  assert.equal(state.cycle, null);
});

Deno.test("transition() releases the slot while supervisord is unreachable and queues again", () => {
  const ctx = fleetCtx({ hasPreHook: true });
  let { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "FleetSlotGranted", waitId: 1, version: B, canary: false },
    { type: "PreHookDone", ok: true },
    { type: "RestartUnavailable", reason: "no such file" },
  ], ctx);
  assert.deepEqual(kinds(commands).slice(4), ["ReleaseFleetSlot", "StartTimer"]);
  assert.deepEqual(find(commands, "ReleaseFleetSlot").version, B);
  assert.equal(state.phase, "retrying");
  assert.equal(state.cycle?.fleet, undefined);
  // Queues again only once supervisord answers: still down, it waits another backoff, no slot.
  ({ state, commands } = drive(state, [{ type: "TimerFired", timerId: 2 }], ctx));
  assert.equal(state.phase, "retrying");
  assert.deepEqual(commands, [{ type: "CheckSupervisor" }]);
  ({ state, commands } = drive(state, [
    { type: "SupervisorChecked", ok: false, reason: "no such file" },
  ], ctx));
  assert.equal(state.phase, "retrying");
  assert.deepEqual(kinds(commands), ["StartTimer"]);
  ({ state, commands } = drive(state, [
    { type: "TimerFired", timerId: 3 },
    { type: "SupervisorChecked", ok: true },
  ], ctx));
  assert.equal(state.phase, "fleet-wait");
  assert.deepEqual(commands, [
    { type: "CheckSupervisor" },
    { type: "AcquireFleetSlot", waitId: 2, version: B },
  ]);
  // Slot again: the pre command already ran for this version; straight to the restart.
  ({ state, commands } = drive(state, [
    { type: "FleetSlotGranted", waitId: 2, version: B, canary: false },
    { type: "RestartDone", report: report() },
  ], ctx));
  assert.deepEqual(kinds(commands), ["Restart", "CycleDone"]);
  assert.equal(find(commands, "CycleDone").cycle.fleet, "slot");
});

Deno.test("transition() restarts uncoordinated when the fleet says so, and reports afterwards", () => {
  const { commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "FleetUncoordinated", waitId: 1, version: B },
    { type: "RestartUnavailable", reason: "refused" }, // nothing held: nothing to release
    { type: "TimerFired", timerId: 2 },
    { type: "SupervisorChecked", ok: true },
    { type: "FleetUncoordinated", waitId: 2, version: B },
    { type: "RestartDone", report: report() },
  ], fleetCtx());
  assert.deepEqual(kinds(commands), [
    "StartTimer",
    "AcquireFleetSlot",
    "Restart",
    "StartTimer",
    "CheckSupervisor",
    "AcquireFleetSlot",
    "Restart",
    "CycleDone",
  ]);
  assert.equal(find(commands, "CycleDone").cycle.fleet, "uncoordinated");
});

Deno.test("transition() aborts the cycle when the fleet wait itself fails", () => {
  const { state, commands } = drive(initialState(A), [
    { type: "VersionSeen", version: B },
    { type: "TimerFired", timerId: 1 },
    { type: "FleetWaitEnded", waitId: 1, reason: "TypeError: x is undefined" },
  ], fleetCtx());
  const done = find(commands, "CycleDone");
  assert.equal(done.outcome, "aborted");
  assert.equal(done.reason, "waiting for a fleet slot failed: TypeError: x is undefined");
  assert.equal(done.cycle.fleet, undefined); // no slot, nothing reported to the fleet
  assert.equal(state.phase, "idle");
});

Deno.test("transition() judges the first version after a start with no baseline by catch-up", () => {
  const found = transition(initialState(null), { type: "BaselineFound", version: A }, context());
  assert.equal(found.state.phase, "idle");
  assert.equal(found.state.applied, A);
  assert.deepEqual(found.commands.filter((c) => c.type !== "Log"), [
    { type: "CatchUp", version: A },
  ]);
  // Catch-up then restarts only the stale targets, as for a baseline read at start.
  const { commands } = drive(found.state, [
    { type: "CatchUpNeeded", version: A, namespecs: ["g:a"] },
    { type: "TimerFired", timerId: 1 },
  ]);
  assert.deepEqual(commands.filter((c) => c.type === "Restart").map((c) => c.cycle.only), [
    ["g:a"],
  ]);
});

Deno.test("transition() treats BaselineFound as a new version once a cycle ran", () => {
  const busy = drive(initialState(null), [{ type: "VersionSeen", version: A }]).state;
  const next = transition(busy, { type: "BaselineFound", version: B }, context());
  assert.equal(next.state.latest, B);
  assert.equal(next.state.applied, null);
  assert.ok(!next.commands.some((c) => c.type === "CatchUp"));
});
