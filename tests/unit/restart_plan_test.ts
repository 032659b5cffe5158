import assert from "node:assert/strict";
import {
  isSelf,
  matchesProgram,
  planRestart,
  type SelfIdentity,
  type TargetSelection,
} from "../../lib/restart_plan.ts";
import type { ProcessInfo } from "../../lib/supervisor/client.ts";
import type { ProcessStateName } from "../../lib/supervisor/states.ts";

let nextPid = 100;
function info(namespec: string, state: ProcessStateName = "RUNNING"): ProcessInfo {
  const [group, name] = namespec.split(":") as [string, string];
  const running = ["RUNNING", "STARTING", "STOPPING"].includes(state);
  return {
    name,
    group,
    namespec,
    state,
    pid: running ? nextPid++ : 0,
    start: 0,
    stop: 0,
    now: 0,
    spawnerr: "",
    exitstatus: 0,
    description: "",
  };
}

const SELF: SelfIdentity = { pid: 999, processName: "releasemon", groupName: "releasemon" };
const select = (overrides: Partial<TargetSelection>): TargetSelection => ({
  programs: [],
  groups: [],
  any: false,
  runningOnly: false,
  ...overrides,
});
const names = (infos: ProcessInfo[]) => infos.map((i) => i.namespec);

const FLEET = [
  info("workers:w2"),
  info("workers:w1"),
  info("web:web"),
  info("api:api_0"),
  info("api:api_1"),
  info("releasemon:releasemon"),
  info("cron:cron", "STOPPED"),
  info("boot:boot", "STARTING"),
  info("broken:broken", "FATAL"),
  info("flappy:flappy", "BACKOFF"),
  info("done:done", "EXITED"),
];

Deno.test("planRestart() with -a restarts everything running except itself, sorted", () => {
  const plan = planRestart(FLEET, select({ any: true }), SELF);
  assert.deepEqual(names(plan.restart), [
    "api:api_0",
    "api:api_1",
    "boot:boot",
    "web:web",
    "workers:w1",
    "workers:w2",
  ]);
  assert.deepEqual(plan.skipped.map((s) => s.namespec), [
    "broken:broken",
    "cron:cron",
    "done:done",
    "flappy:flappy",
  ]);
  assert.match(
    plan.skipped.find((s) => s.namespec === "cron:cron")!.reason,
    /a restart never starts a stopped program/,
  );
  assert.match(plan.skipped.find((s) => s.namespec === "broken:broken")!.reason, /--revive/);
});

Deno.test("planRestart() with --running-only leaves STARTING programs alone", () => {
  const plan = planRestart(FLEET, select({ any: true, runningOnly: true }), SELF);
  assert.ok(!names(plan.restart).includes("boot:boot"));
  assert.match(plan.skipped.find((s) => s.namespec === "boot:boot")!.reason, /--running-only/);
});

Deno.test("planRestart() matches PROG by name, group:name, group:* and group name", () => {
  const plan = planRestart(FLEET, select({ programs: ["w1", "web:web", "api"] }), SELF);
  assert.deepEqual(names(plan.restart), ["api:api_0", "api:api_1", "web:web", "workers:w1"]);
  const star = planRestart(FLEET, select({ programs: ["workers:*"] }), SELF);
  assert.deepEqual(names(star.restart), ["workers:w1", "workers:w2"]);
});

Deno.test("planRestart() with -g restarts whole groups", () => {
  const plan = planRestart(FLEET, select({ groups: ["workers", "web"] }), SELF);
  assert.deepEqual(names(plan.restart), ["web:web", "workers:w1", "workers:w2"]);
});

Deno.test("planRestart() reports names and groups that match nothing", () => {
  const plan = planRestart(
    FLEET,
    select({ programs: ["nope", "workers:w9"], groups: ["ghosts"] }),
    SELF,
  );
  assert.deepEqual(plan.restart, []);
  assert.deepEqual(plan.unknown, ["nope", "workers:w9", "ghosts (group)"]);
});

Deno.test("planRestart() never restarts itself even when named", () => {
  const plan = planRestart(FLEET, select({ programs: ["releasemon", "web"] }), SELF);
  assert.deepEqual(names(plan.restart), ["web:web"]);
  assert.deepEqual(plan.skipped, []);
  assert.deepEqual(plan.unknown, []);
});

Deno.test("planRestart() with revive starts FATAL and BACKOFF programs, never STOPPED", () => {
  const plan = planRestart(FLEET, select({ any: true, revive: true }), SELF);
  assert.ok(names(plan.restart).includes("broken:broken"));
  assert.ok(names(plan.restart).includes("flappy:flappy"));
  assert.ok(!names(plan.restart).includes("cron:cron"));
});

Deno.test("isSelf() recognises releasemon by pid or by supervisord's process name", () => {
  const me = info("tools:monitor");
  assert.equal(isSelf({ ...me, pid: 999 }, SELF), true);
  assert.equal(isSelf(me, { pid: 1, processName: "monitor", groupName: "tools" }), true);
  assert.equal(isSelf(me, { pid: 1, processName: "monitor", groupName: "other" }), false);
  assert.equal(isSelf(me, { pid: 1, processName: null, groupName: null }), false);
  assert.equal(isSelf({ ...me, pid: 0 }, { pid: 0, processName: null, groupName: null }), false);
});

Deno.test("matchesProgram() follows supervisorctl's namespecs", () => {
  const w1 = info("workers:w1");
  assert.equal(matchesProgram(w1, "w1"), true);
  assert.equal(matchesProgram(w1, "workers"), true);
  assert.equal(matchesProgram(w1, "workers:w1"), true);
  assert.equal(matchesProgram(w1, "workers:"), true);
  assert.equal(matchesProgram(w1, "other:w1"), false);
  assert.equal(matchesProgram(w1, "w"), false);
});
