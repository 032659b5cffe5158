/**
 * stepProgram(), table-driven: observations in at given times, actions and the final state out.
 */
import assert from "node:assert/strict";
import {
  describeFault,
  type ProgramAction,
  type ProgramLimits,
  type ProgramObservation,
  type ProgramState,
  stepProgram,
  stoppingProgram,
} from "../../lib/_restart_program.ts";
import { SupervisorFault } from "../../lib/errors.ts";
import type { ProcessInfo } from "../../lib/supervisor/client.ts";
import type { ProcessStateName } from "../../lib/supervisor/states.ts";

const LIMITS: ProgramLimits = { startTimeoutMs: 60_000, stopTimeoutMs: 600_000 };

function info(state: ProcessStateName, pid = 0, spawnerr = ""): ProcessInfo {
  return {
    name: "web",
    group: "app",
    namespec: "app:web",
    state,
    pid,
    start: 0,
    stop: 0,
    now: 0,
    spawnerr,
    exitstatus: 0,
    description: "",
  };
}

const OLD = info("RUNNING", 100);
const fault = (name: string, text = "") =>
  new SupervisorFault(0, name, text, "supervisor.startProcess");
const polled = (state: ProcessStateName, pid = 0, spawnerr = ""): ProgramObservation => ({
  type: "Polled",
  info: info(state, pid, spawnerr),
});
const STOP_ANSWERED: ProgramObservation = { type: "StopAnswered", waited: false };
const START_ANSWERED: ProgramObservation = { type: "StartAnswered" };

interface Case {
  name: string;
  /** @default stoppingProgram(OLD) */
  from?: ProgramState;
  /** Observations with the time they arrive at (ms on the restart's clock). */
  steps: [ProgramObservation, number][];
  actions: ProgramAction[];
  /** The final phase; a failed state holds the reason its ReportFailed gave. */
  phase: ProgramState["phase"];
}

const CASES: Case[] = [
  {
    name: "restarts: stop answered, down, start answered, RUNNING with a new pid",
    steps: [[STOP_ANSWERED, 0], [polled("STOPPED"), 5], [START_ANSWERED, 6], [
      polled("RUNNING", 200),
      11,
    ]],
    actions: [{ type: "SendStart" }, { type: "ReportRestarted", pid: 200 }],
    phase: "restarted",
  },
  {
    name: "starts at once after a stop with wait=true",
    steps: [[{ type: "StopAnswered", waited: true }, 0]],
    actions: [{ type: "SendStart" }],
    phase: "stopping",
  },
  {
    name: "lost stop answer: starts it once the poll shows it down",
    steps: [[{ type: "StopUnanswered" }, 0], [polled("STOPPED"), 5]],
    actions: [{ type: "SendStart" }],
    phase: "stopping",
  },
  {
    name: "lost stop that never arrived: sends the stop again",
    steps: [[{ type: "StopUnanswered" }, 0], [polled("RUNNING", 100), 5]],
    actions: [{ type: "SendStop" }],
    phase: "stopping",
  },
  {
    name: "stop answered, still RUNNING: waits without a second stop",
    steps: [[STOP_ANSWERED, 0], [polled("RUNNING", 100), 5], [polled("STOPPING", 100), 10]],
    actions: [],
    phase: "stopping",
  },
  {
    name: "STOPPING: waits, even with a start in doubt",
    steps: [[{ type: "StartUnanswered" }, 0], [polled("STOPPING", 100), 5]],
    actions: [],
    phase: "stopping",
  },
  {
    name: "lost start answer that did start it: follows it to RUNNING",
    from: stoppingProgram(OLD, true),
    steps: [[{ type: "StartUnanswered" }, 0], [polled("STARTING", 200), 5], [
      polled("RUNNING", 200),
      900,
    ]],
    actions: [{ type: "ReportRestarted", pid: 200 }],
    phase: "restarted",
  },
  {
    name: "lost start answer that did not start it: starts it again",
    from: stoppingProgram(OLD, true),
    steps: [[{ type: "StartUnanswered" }, 0], [polled("STOPPED"), 5]],
    actions: [{ type: "SendStart" }],
    phase: "stopping",
  },
  {
    name: "NOT_RUNNING to a stop with wait=true: it is down, start it",
    steps: [[{ type: "StopFaulted", fault: fault("NOT_RUNNING"), waited: true }, 0]],
    actions: [{ type: "SendStart" }],
    phase: "stopping",
  },
  {
    name: "NOT_RUNNING to a stop without waiting: the poll starts it",
    steps: [[{ type: "StopFaulted", fault: fault("NOT_RUNNING"), waited: false }, 0], [
      polled("EXITED"),
      5,
    ]],
    actions: [{ type: "SendStart" }],
    phase: "stopping",
  },
  {
    name: "another stop fault fails it with supervisord's text and a hint",
    steps: [[
      { type: "StopFaulted", fault: fault("BAD_NAME", "BAD_NAME: app:web"), waited: true },
      0,
    ]],
    actions: [{
      type: "ReportFailed",
      reason: "BAD_NAME: app:web; it no longer exists in supervisord",
    }],
    phase: "failed",
  },
  {
    name: "ALREADY_STARTED: someone started it; the poll decides",
    from: stoppingProgram(OLD, true),
    steps: [[{ type: "StartFaulted", fault: fault("ALREADY_STARTED") }, 0], [
      polled("RUNNING", 300),
      5,
    ]],
    actions: [{ type: "ReportRestarted", pid: 300 }],
    phase: "restarted",
  },
  {
    name: "SPAWN_ERROR to a start fails it, pointing at the stderr log",
    from: stoppingProgram(OLD, true),
    steps: [[{ type: "StartFaulted", fault: fault("SPAWN_ERROR", "SPAWN_ERROR: app:web") }, 0]],
    actions: [{
      type: "ReportFailed",
      reason: "SPAWN_ERROR: app:web; see that program's stderr log",
    }],
    phase: "failed",
  },
  {
    name: "BACKOFF then RUNNING: waits through supervisord's retries",
    from: stoppingProgram(OLD, true),
    steps: [[START_ANSWERED, 0], [polled("BACKOFF"), 1_000], [polled("STARTING", 201), 2_000], [
      polled("RUNNING", 201),
      3_000,
    ]],
    actions: [{ type: "ReportRestarted", pid: 201 }],
    phase: "restarted",
  },
  {
    name: "FATAL after start: fails with spawnerr and the stderr hint",
    from: stoppingProgram(OLD, true),
    steps: [[START_ANSWERED, 0], [polled("BACKOFF"), 5], [
      polled("FATAL", 0, "Exited too quickly (process log may have details)"),
      10,
    ]],
    actions: [{
      type: "ReportFailed",
      reason:
        "FATAL after start: Exited too quickly (process log may have details); see that program's stderr log",
    }],
    phase: "failed",
  },
  {
    name: "EXITED after start: fails with the stderr hint",
    from: stoppingProgram(OLD, true),
    steps: [[START_ANSWERED, 0], [polled("EXITED"), 5]],
    actions: [{
      type: "ReportFailed",
      reason: "EXITED after start; see that program's stderr log",
    }],
    phase: "failed",
  },
  {
    name: "STOPPED after start: someone else stopped it",
    from: stoppingProgram(OLD, true),
    steps: [[START_ANSWERED, 0], [polled("STOPPED"), 5]],
    actions: [{
      type: "ReportFailed",
      reason: "STOPPED after start (someone else stopped it?)",
    }],
    phase: "failed",
  },
  {
    name: "start timeout: still not RUNNING just past --start-timeout after the start",
    from: stoppingProgram(OLD, true),
    steps: [
      [START_ANSWERED, 1_000],
      [{ type: "TimeChecked", stopWaitedMs: 61_000 }, 61_000],
      [{ type: "TimeChecked", stopWaitedMs: 61_001 }, 61_001],
    ],
    actions: [{
      type: "ReportFailed",
      reason: "not RUNNING 1 minute after start (--start-timeout)",
    }],
    phase: "failed",
  },
  {
    name: "stop timeout: not down just past the stop timeout",
    steps: [
      [STOP_ANSWERED, 0],
      [{ type: "TimeChecked", stopWaitedMs: 600_000 }, 600_000],
      [{ type: "TimeChecked", stopWaitedMs: 600_001 }, 600_001],
    ],
    actions: [{ type: "ReportFailed", reason: "did not stop within 10 minutes" }],
    phase: "failed",
  },
  {
    name: "removed from supervisord while stopping",
    steps: [[STOP_ANSWERED, 0], [{ type: "Polled", info: null }, 5]],
    actions: [{ type: "ReportFailed", reason: "removed from supervisord during the restart" }],
    phase: "failed",
  },
  {
    name: "removed from supervisord while starting",
    from: stoppingProgram(OLD, true),
    steps: [[START_ANSWERED, 0], [{ type: "Polled", info: null }, 5]],
    actions: [{ type: "ReportFailed", reason: "removed from supervisord during the restart" }],
    phase: "failed",
  },
  {
    name: "aborted while stopping: still started, never left down",
    steps: [[STOP_ANSWERED, 0], [{ type: "Aborted" }, 1], [polled("STOPPED"), 5]],
    actions: [{ type: "SendStart" }],
    phase: "stopping",
  },
  {
    name: "aborted while starting: no longer waited for, pending",
    from: stoppingProgram(OLD, true),
    steps: [[START_ANSWERED, 0], [{ type: "Aborted" }, 1], [polled("RUNNING", 200), 5]],
    actions: [{ type: "ReportPending" }],
    phase: "pending",
  },
  {
    name: "contact lost after the stop arrived: it may be down, says where to check",
    steps: [[STOP_ANSWERED, 0], [{ type: "ContactLost", error: "refused" }, 30_000]],
    actions: [{
      type: "ReportFailed",
      reason:
        'lost contact with supervisord mid-restart: refused; it may be down: check "supervisorctl status app:web"',
    }],
    phase: "failed",
  },
  {
    name: "contact lost before any stop arrived: no such warning",
    steps: [[{ type: "ContactLost", error: "refused" }, 30_000]],
    actions: [{
      type: "ReportFailed",
      reason: "lost contact with supervisord mid-restart: refused",
    }],
    phase: "failed",
  },
  {
    name: "a settled program ignores everything after",
    from: { phase: "restarted", info: OLD, pid: 200 },
    steps: [[{ type: "Polled", info: null }, 0], [{ type: "ContactLost", error: "x" }, 1], [
      { type: "TimeChecked", stopWaitedMs: 1e9 },
      1e9,
    ]],
    actions: [],
    phase: "restarted",
  },
];

for (const c of CASES) {
  Deno.test(`stepProgram() ${c.name}`, () => {
    let state = c.from ?? stoppingProgram(OLD);
    const actions: ProgramAction[] = [];
    for (const [observation, now] of c.steps) {
      const step = stepProgram(state, observation, now, LIMITS);
      state = step.state;
      actions.push(...step.actions);
    }
    assert.deepEqual(actions, c.actions);
    assert.equal(state.phase, c.phase);
    if (state.phase === "failed") {
      const last = c.actions.at(-1);
      assert.equal(state.reason, last?.type === "ReportFailed" ? last.reason : undefined);
    }
  });
}

Deno.test("stepProgram() keeps the old pid in its state for the log line", () => {
  const { state } = stepProgram(
    { phase: "starting", info: OLD, startRequestedAt: 0 },
    polled("RUNNING", 200),
    5,
    LIMITS,
  );
  assert.deepEqual(state, { phase: "restarted", info: OLD, pid: 200 });
});

Deno.test("describeFault() falls back to the fault name when supervisord gave no text", () => {
  assert.equal(describeFault(fault("SPAWN_ERROR")), "SPAWN_ERROR; see that program's stderr log");
  assert.equal(describeFault(fault("FAILED", "FAILED: app:web")), "FAILED: app:web");
});
