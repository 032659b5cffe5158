import assert from "node:assert/strict";
import { buildCheck, type CheckSettings, formatCheckText } from "../../lib/ops/check.ts";
import type { Facts } from "../../lib/ops/probe.ts";
import { closestName } from "../../lib/ops/problems.ts";
import { buildStatus, formatStatusText } from "../../lib/ops/status.ts";
import type { ProcessInfo } from "../../lib/supervisor/client.ts";
import { FakeSupervisor } from "../support/fake_supervisor.ts";

const SELF = { pid: 1, processName: null, groupName: null };
const SETTINGS: CheckSettings = {
  programs: ["web"],
  groups: ["workers"],
  any: false,
  runningOnly: false,
  revive: false,
  enabled: true,
  dryRun: false,
  fixedDelayMs: 10_000,
  randomDelayMs: 0,
  preRestart: null,
  postRestart: null,
  hookTimeoutMs: 60_000,
  updateConfig: false,
  batchSize: null,
  startTimeoutMs: 60_000,
  catchUp: true,
  fleet: null,
};
const T0_SEC = 1_700_000_000;

/** Processes as supervisord lists them, started at `T0_SEC` (STOPPED ones never started). */
async function infos(states: Record<string, ProcessInfo["state"]>): Promise<ProcessInfo[]> {
  const fake = new FakeSupervisor({ clock: { now: () => T0_SEC * 1000 } });
  for (const [namespec, state] of Object.entries(states)) fake.add(namespec, state);
  return await fake.client().getAllProcessInfo();
}

function facts(list: ProcessInfo[], overrides: Partial<Facts> = {}): Facts {
  return {
    versionFile: "/app/VERSION",
    version: { kind: "version", version: { hash: "ab".repeat(32), label: "v2", size: 3 } },
    appearedAtSec: T0_SEC - 60,
    supervisor: { kind: "ok", url: "unix:///run/supervisor.sock", state: "RUNNING", infos: list },
    hooks: [],
    fleet: null,
    ...overrides,
  };
}

const APPS = { "web:web": "RUNNING", "workers:w1": "RUNNING", "workers:w2": "RUNNING" } as const;

Deno.test("buildCheck() plans batches in namespec order, with delays and hooks", async () => {
  const settings = { ...SETTINGS, batchSize: 2, preRestart: "/app/migrate" };
  const hooks = [{
    hook: "pre" as const,
    command: "/app/migrate",
    program: { kind: "path" as const, word: "/app/migrate" },
    found: "executable" as const,
    resolved: "/app/migrate",
  }];
  const report = buildCheck(settings, facts(await infos(APPS), { hooks }), SELF);
  assert.equal(report.exitCode, 0);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(
    report.plan.batches!.map((batch) => batch.map((t) => t.namespec)),
    [["web:web", "workers:w1"], ["workers:w2"]],
  );
  assert.deepEqual(report.plan.catchUp, []);
  const text = formatCheckText(report);
  assert.match(text, /^releasemon --check: OK$/m);
  assert.match(text, /1\. wait 10 seconds\n/);
  assert.match(
    text,
    /2\. run the pre-restart command "\/app\/migrate" \(found \/app\/migrate; timeout 1 minute\)/,
  );
  assert.match(
    text,
    /3\. restart 3 program\(s\) in 2 batches of 2, each reaching RUNNING within 1 minute/,
  );
});

Deno.test("buildCheck() exits 2 for a name that matches nothing, suggesting the closest", async () => {
  const report = buildCheck(
    { ...SETTINGS, programs: ["wbe"], groups: ["wrokers"] },
    facts(await infos(APPS)),
    SELF,
  );
  assert.equal(report.exitCode, 2);
  assert.deepEqual(report.problems.map((p) => [p.severity, p.message]), [
    ["configuration", 'No program or group matches PROG "wbe"'],
    ["configuration", 'No group matches -g "wrokers"'],
  ]);
  assert.match(report.problems[0]!.fix, /did you mean "web"/);
  assert.match(report.problems[1]!.fix, /did you mean "workers"/);
});

Deno.test("buildCheck() exits 2 for a directory PATH and a missing hook, 1 for no supervisord", () => {
  const directory = buildCheck(
    SETTINGS,
    facts([], {
      version: { kind: "unreadable", reason: "is a directory" },
      supervisor: {
        kind: "unreachable",
        url: "unix:///x.sock",
        message: "no such socket",
        fix: "f",
      },
    }),
    SELF,
  );
  assert.equal(directory.exitCode, 2); // a configuration problem wins over a connection one
  assert.equal(directory.plan.batches, null);
  const unreachable = buildCheck(
    SETTINGS,
    facts([], {
      supervisor: {
        kind: "unreachable",
        url: "unix:///x.sock",
        message: "no such socket",
        fix: "f",
      },
    }),
    SELF,
  );
  assert.equal(unreachable.exitCode, 1);
  assert.deepEqual(unreachable.problems.map((p) => p.severity), ["connection"]);
  const refusedFleet = buildCheck(
    SETTINGS,
    facts([], {
      supervisor: { kind: "refused", url: "http://h:9001", message: "401", fix: "f" },
    }),
    SELF,
  );
  assert.equal(refusedFleet.exitCode, 1);
});

Deno.test("buildCheck() warns, without failing, about a missing version file and a disabled run", async () => {
  const report = buildCheck(
    { ...SETTINGS, enabled: false },
    facts(await infos(APPS), { version: { kind: "missing" }, appearedAtSec: null }),
    SELF,
  );
  assert.equal(report.exitCode, 0);
  assert.deepEqual(report.problems.map((p) => p.severity), ["warning", "warning"]);
  assert.equal(report.plan.catchUp, null);
});

Deno.test("buildStatus() marks targets current, stale or down; exit 3 unless all are current", async () => {
  const list = await infos({ ...APPS, "workers:w3": "STOPPED" });
  const stale = buildStatus(SETTINGS, facts(list, { appearedAtSec: T0_SEC + 1 }), SELF);
  assert.equal(stale.exitCode, 3);
  assert.deepEqual(stale.targets.map((t) => [t.namespec, t.status]), [
    ["web:web", "stale"],
    ["workers:w1", "stale"],
    ["workers:w2", "stale"],
    ["workers:w3", "down"],
  ]);
  // Started in the second the version appeared: given the benefit of the doubt.
  const current = buildStatus(
    { ...SETTINGS, groups: [] },
    facts(list, { appearedAtSec: T0_SEC }),
    SELF,
  );
  assert.equal(current.exitCode, 0);
  assert.deepEqual(current.targets.map((t) => t.status), ["current"]);
  assert.match(formatStatusText(current), /summary: 1 current; exit 0/);
  const missing = buildStatus(SETTINGS, facts(list, { version: { kind: "missing" } }), SELF);
  assert.equal(missing.exitCode, 3);
  assert.equal(missing.targets[0]!.status, "unknown");
});

Deno.test("closestName() suggests only names within a few edits", () => {
  assert.equal(closestName("wrokers", ["web", "workers"]), "workers");
  assert.equal(closestName("web", ["workers"]), null);
  assert.equal(closestName("x", ["y"]), "y");
  assert.equal(closestName("queue", ["web", "worker"]), null);
});
