import assert from "node:assert/strict";
import { planConfigUpdate } from "../../lib/config_update.ts";
import type { SelfIdentity, TargetSelection } from "../../lib/restart_plan.ts";
import type { ProcessInfo, ProgramConfig } from "../../lib/supervisor/client.ts";

function info(namespec: string, pid = 10): ProcessInfo {
  const [group, name] = namespec.split(":") as [string, string];
  return {
    name,
    group,
    namespec,
    state: "RUNNING",
    pid,
    start: 0,
    stop: 0,
    now: 0,
    spawnerr: "",
    exitstatus: 0,
    description: "",
  };
}
const conf = (namespec: string, autostart = true): ProgramConfig => {
  const [group, name] = namespec.split(":") as [string, string];
  return { name, group, namespec, autostart };
};
const SELF: SelfIdentity = { pid: 99, processName: "releasemon", groupName: "releasemon" };
const select = (overrides: Partial<TargetSelection>): TargetSelection => ({
  programs: [],
  groups: [],
  any: false,
  runningOnly: false,
  ...overrides,
});
const RUNNING = [
  info("web:web"),
  info("workers:w1"),
  info("workers:w2"),
  info("mixed:m1"),
  info("mixed:m2"),
  info("releasemon:releasemon", 99),
  info("old:old"),
];

Deno.test("planConfigUpdate() re-creates changed groups made only of targets", () => {
  const plan = planConfigUpdate(
    { added: [], changed: ["web", "workers"], removed: [] },
    RUNNING,
    [],
    select({ any: true }),
    SELF,
  );
  assert.deepEqual(plan.recreate, ["web", "workers"]);
  assert.deepEqual(plan.mixed, []);
});

Deno.test("planConfigUpdate() leaves a mixed group and names its non-targets", () => {
  const plan = planConfigUpdate(
    { added: [], changed: ["mixed"], removed: [] },
    RUNNING,
    [],
    select({ programs: ["mixed:m1"] }),
    SELF,
  );
  assert.deepEqual(plan.recreate, []);
  assert.deepEqual(plan.mixed, [{ group: "mixed", others: ["mixed:m2"] }]);
});

Deno.test("planConfigUpdate() never touches releasemon's own group", () => {
  const plan = planConfigUpdate(
    { added: [], changed: ["releasemon"], removed: ["releasemon"] },
    RUNNING,
    [],
    select({ any: true }),
    SELF,
  );
  assert.equal(plan.selfChanged, "releasemon");
  assert.deepEqual([plan.recreate, plan.remove], [[], []]);
});

Deno.test("planConfigUpdate() adds new groups that match the selection only", () => {
  const configured = [conf("api:api_0"), conf("api:api_1"), conf("cron:cron"), conf("tools:w9")];
  const changes = { added: ["api", "cron", "tools"], changed: [], removed: [] };
  assert.deepEqual(
    planConfigUpdate(changes, RUNNING, configured, select({ any: true }), SELF).add,
    [
      "api",
      "cron",
      "tools",
    ],
  );
  assert.deepEqual(
    planConfigUpdate(
      changes,
      RUNNING,
      configured,
      select({ groups: ["api"], programs: ["w9"] }),
      SELF,
    )
      .add,
    ["api", "tools"],
  );
});

Deno.test("planConfigUpdate() removes only removed groups that held targets", () => {
  const changes = { added: [], changed: [], removed: ["old", "web"] };
  assert.deepEqual(
    planConfigUpdate(changes, RUNNING, [], select({ programs: ["web"] }), SELF).remove,
    ["web"],
  );
  assert.deepEqual(planConfigUpdate(changes, RUNNING, [], select({ any: true }), SELF).remove, [
    "old",
    "web",
  ]);
});
