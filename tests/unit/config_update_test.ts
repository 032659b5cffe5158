import assert from "node:assert/strict";
import { applyConfigUpdate, planConfigUpdate } from "../../lib/config_update.ts";
import { HttpProtocolError, SupervisorAuthError } from "../../lib/errors.ts";
import { FakeClock } from "../support/fake_clock.ts";
import { FakeSupervisor } from "../support/fake_supervisor.ts";
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

const URL = "unix:///fake/supervisor.sock";
const badGateway = () => new HttpProtocolError(URL, 502, "the server answered 502 Bad Gateway");

/** A changed group "web" holding one target that runs; its new definition has autostart=false. */
async function changedWeb() {
  const fake = new FakeSupervisor().add("web:web").define("web:web", { autostart: false });
  const running = await fake.client().getAllProcessInfo();
  const plan = { recreate: ["web"], add: [], remove: [], mixed: [], selfChanged: null };
  const apply = async () => {
    using clock = new FakeClock(0);
    return await clock.runUntilSettled(
      applyConfigUpdate(fake.client(), plan, running, [conf("web:web", false)], {
        startTimeoutMs: 10_000,
        signal: new AbortController().signal,
        clock,
      }),
    );
  };
  return { fake, apply, oldPid: running[0]!.pid };
}

Deno.test("applyConfigUpdate() re-creates a group once and starts what ran, through 502s", async () => {
  const { fake, apply, oldPid } = await changedWeb();
  fake.failNext("supervisor.removeProcessGroup", 3, { error: badGateway });
  const result = await apply();
  assert.deepEqual(result.failed, []);
  assert.deepEqual(result.recreated, ["web:web"]);
  assert.deepEqual(fake.adds, ["web:web"]);
  const web = fake.processes.get("web:web")!;
  assert.equal(web.state, "RUNNING");
  assert.notEqual(web.pid, oldPid);
});

Deno.test("applyConfigUpdate() takes a lost addProcessGroup answer for done, not a second add", async () => {
  const { fake, apply } = await changedWeb();
  fake.failNext("supervisor.addProcessGroup", 1, { applied: true, error: badGateway });
  const result = await apply();
  assert.deepEqual(result.failed, []);
  assert.deepEqual(result.recreated, ["web:web"]);
  assert.deepEqual(fake.adds, ["web:web"]);
  assert.equal(fake.calls.filter((c) => c === "supervisor.addProcessGroup").length, 2);
  assert.equal(fake.processes.get("web:web")!.state, "RUNNING");
});

Deno.test("applyConfigUpdate() starts the old definition again when the group cannot be removed", async () => {
  const { fake, apply, oldPid } = await changedWeb();
  fake.failNext("supervisor.removeProcessGroup", Infinity, {
    error: () => new SupervisorAuthError(URL, "wrong username or password"),
  });
  const result = await apply();
  assert.deepEqual(result.recreated, []);
  assert.deepEqual(fake.adds, []);
  assert.deepEqual(result.failed, [{
    namespec: "web:web",
    reason: "group web not re-created: cannot remove it: wrong username or password; " +
      "it runs its previous definition again",
  }]);
  const web = fake.processes.get("web:web")!;
  assert.equal(web.state, "RUNNING");
  assert.notEqual(web.pid, oldPid);
});

Deno.test("applyConfigUpdate() reports a group removed but not added again, never success", async () => {
  const { fake, apply } = await changedWeb();
  fake.failNext("supervisor.addProcessGroup", Infinity, { error: badGateway });
  const result = await apply();
  assert.deepEqual(result.recreated, []);
  assert.deepEqual(result.failed, [{
    namespec: "web:web",
    reason: "group web removed but not added again: the server answered 502 Bad Gateway; " +
      "add it with: supervisorctl update web",
  }]);
});
