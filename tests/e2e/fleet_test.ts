// Fleet rollouts end to end: several simulated hosts (each its own supervisord with workers and
// releasemon as a [program], each with its own version file and --fleet-id) coordinating through
// a real redis-server. Down times come from the workers' own clocks (tests/support/fleet_hosts.ts).
import assert from "node:assert/strict";
import {
  fleetCommand,
  type FleetHost,
  type FleetStatus,
  fleetStatusJson,
  type Interval,
  maxOverlap,
  startFleetHosts,
} from "../support/fleet_hosts.ts";
import { startRedis } from "../support/redis.ts";
import { matchingLines, pids, waitForRunning } from "../support/releasemon.ts";
import { waitFor } from "../support/supervisord.ts";

/** Generous: 2 cores shared by up to 8 supervisords, 8 Deno processes and redis. */
const ROLLOUT_TIMEOUT_MS = 120_000;

/** Waits until the group's status satisfies `done`; returns it. */
async function waitForStatus(
  redis: Parameters<typeof fleetStatusJson>[0],
  fleetName: string,
  what: string,
  done: (status: FleetStatus) => boolean,
): Promise<FleetStatus> {
  return await waitFor(
    `fleet status: ${what}`,
    async () => {
      const status = await fleetStatusJson(redis, fleetName);
      return done(status) ? status : undefined;
    },
    ROLLOUT_TIMEOUT_MS,
    200,
  );
}

/** Every host's down intervals (first worker stop → last worker start), one per restart. */
async function allDownIntervals(hosts: readonly FleetHost[]): Promise<Interval[]> {
  return (await Promise.all(hosts.map((host) => host.downIntervals()))).flat();
}

/** Asserts each host restarted its workers exactly once; returns their down intervals. */
async function assertRestartedOnce(hosts: readonly FleetHost[]): Promise<Interval[]> {
  for (const host of hosts) {
    assert.deepEqual(
      await host.starts(),
      host.programs.map(() => 2),
      `${host.id}: each worker started once, then once more for the new version`,
    );
  }
  const intervals = await allDownIntervals(hosts);
  assert.deepEqual(intervals.map((i) => i.host).sort(), hosts.map((h) => h.id).sort());
  return intervals;
}

Deno.test("--fleet-max 2: 8 hosts restart once each, never more than 2 down at once", async () => {
  await using redis = await startRedis();
  await using fleet = await startFleetHosts(redis, {
    count: 8,
    fleetName: "max2",
    programs: ["w1", "w2"],
    args: () => ["--fleet-max", "2"],
  });
  await fleet.ready();
  await Promise.all(fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)));

  await fleet.deployAll("v2");
  await Promise.all(
    fleet.hosts.map((host) =>
      host.waitForLog(/Version "v2" applied: 2 restarted, 0 failed/, ROLLOUT_TIMEOUT_MS)
    ),
  );
  const status = await waitForStatus(redis, "max2", "8 hosts done", (s) => s.counts.done === 8);
  assert.equal(status.version?.label, "v2");
  assert.equal(status.halted, null);
  assert.deepEqual(status.slots, []);

  const intervals = await assertRestartedOnce(fleet.hosts);
  const overlap = maxOverlap(intervals);
  assert.ok(
    overlap.count <= 2,
    `${overlap.count} hosts down at once (${overlap.hosts.join(", ")}) with --fleet-max 2`,
  );
  for (const host of fleet.hosts) {
    assert.equal(matchingLines(await host.log(), /applied:/).length, 1, `${host.id} applied once`);
  }
});

Deno.test("a host SIGKILLed holding a slot frees it after the lease; the rest finish", async () => {
  const leaseMs = 3_000;
  await using redis = await startRedis();
  await using fleet = await startFleetHosts(redis, {
    count: 4,
    fleetName: "killed",
    // The victim's restart takes 5 s (startsecs), so the kill lands while it holds the slot.
    startsecs: (i) => i === 0 ? 5 : 1,
    args: () => ["--fleet-max", "1", "--fleet-lease", String(leaseMs / 1000)],
    releasemonOptions: { autorestart: false },
  });
  await fleet.ready();
  await Promise.all(fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)));
  const [victim, ...rest] = fleet.hosts as [FleetHost, ...FleetHost[]];

  const deployedAt = Date.now();
  await victim.deploy("v2");
  await victim.waitForLog(/Fleet slot granted for version/);
  assert.match(await victim.sv.ctl("signal", "KILL", "releasemon"), /signalled/);
  await fleet.deployAll("v2", rest);
  await Promise.all(
    rest.map((host) =>
      host.waitForLog(/Version "v2" applied: 1 restarted, 0 failed/, ROLLOUT_TIMEOUT_MS)
    ),
  );

  assert.doesNotMatch(await victim.log(), /applied:/, "killed before it finished");
  const info = await victim.sv.client().getProcessInfo("releasemon");
  assert.notEqual(info.state, "RUNNING", "the killed releasemon stays down (autorestart=false)");
  const intervals = await assertRestartedOnce(rest);
  const firstStop = Math.min(...intervals.map((i) => i.from));
  assert.ok(
    firstStop - deployedAt >= leaseMs,
    `the first other host went down ${Math.round(firstStop - deployedAt)} ms after the deploy, ` +
      `before the victim's ${leaseMs} ms lease ran out`,
  );
  const status = await waitForStatus(redis, "killed", "3 hosts done", (s) => s.counts.done === 3);
  assert.deepEqual(status.slots, []);
  const victimRecord = status.hosts.find((h) => h.hostId === victim.id);
  assert.equal(victimRecord?.state, "restarting");
  assert.equal(victimRecord?.detail, "stopped renewing its lease");
});

Deno.test("a host whose release cannot start halts the version; resume, then a newer one", async () => {
  await using redis = await startRedis();
  await using fleet = await startFleetHosts(redis, {
    count: 4,
    fleetName: "halt",
    args: () => ["--fleet-max", "1", "--revive"],
    postLog: true,
  });
  await fleet.ready();
  const before = await Promise.all(
    fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)),
  );
  const [broken, ...rest] = fleet.hosts as [FleetHost, ...FleetHost[]];

  // The broken host arrives first and takes the only slot: the others arrive after it.
  await broken.setBroken(true);
  await broken.deploy("v2");
  await broken.waitForLog(/Fleet slot granted for version/);
  await fleet.deployAll("v2", rest);
  await broken.waitForLog(/Version "?v2"? marked failed for the fleet/, ROLLOUT_TIMEOUT_MS);
  await Promise.all(
    rest.map((host) =>
      host.waitForLog(/FLEET ROLLOUT HALTED for version "?v2"?: .*host0/, ROLLOUT_TIMEOUT_MS)
    ),
  );

  const halted = await waitForStatus(
    redis,
    "halt",
    "3 hosts skipped",
    (s) => s.counts.skipped === 3,
  );
  assert.equal(halted.version?.label, "v2");
  assert.ok(halted.halted, "the status shows the halt");
  assert.match(halted.halted.reason, /^host "host0" reported failed: w1:w1: /);
  assert.equal(halted.halted.by, "host0");
  assert.deepEqual(
    halted.hosts.map((h) => [h.hostId, h.state]).sort(),
    [["host0", "failed"], ["host1", "skipped"], ["host2", "skipped"], ["host3", "skipped"]],
  );
  const text = await fleetCommand(redis, "halt", ["--fleet-status"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^HALTED: host "host0" reported failed: w1:w1: /m);

  for (const host of rest) {
    const pid = (await pids(host.sv))["w1:w1"];
    assert.equal(pid, before[host.index]!["w1:w1"], `${host.id} still runs the old release`);
    await waitFor(
      `${host.id} post command`,
      async () => (await host.postLines()).length || undefined,
    );
    assert.deepEqual(await host.postLines(), ["v2 halted"], `${host.id} post command`);
  }
  await waitFor("host0 post command", async () => (await broken.postLines()).length || undefined);
  assert.deepEqual(await broken.postLines(), ["v2 failed"]);

  const resumed = await fleetCommand(redis, "halt", ["--fleet-resume"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(resumed.stdout, "Halt cleared\n");
  const cleared = await fleetStatusJson(redis, "halt");
  assert.equal(cleared.halted, null);
  assert.equal(cleared.version?.label, "v2");

  const beforeV3 = await Promise.all(fleet.hosts.map((host) => pids(host.sv)));
  await broken.setBroken(false);
  await fleet.deployAll("v3");
  await Promise.all(
    fleet.hosts.map((host) =>
      host.waitForLog(/Version "v3" applied: 1 restarted, 0 failed/, ROLLOUT_TIMEOUT_MS)
    ),
  );
  const v3 = await waitForStatus(
    redis,
    "halt",
    "v3: 4 hosts done",
    (s) => s.version?.label === "v3" && s.counts.done === 4,
  );
  assert.equal(v3.halted, null);
  for (const host of fleet.hosts) {
    const after = await waitForRunning(host.sv, host.namespecs, 60_000);
    assert.notEqual(after["w1:w1"], beforeV3[host.index]!["w1:w1"], `${host.id} restarted for v3`);
    await waitFor(
      `${host.id} v3 post`,
      async () => (await host.postLines()).length === 2 || undefined,
    );
    assert.equal((await host.postLines())[1], "v3 success");
  }
});

Deno.test("--fleet-canary 1: nobody goes down before the canary is RUNNING", async () => {
  const startsecs = 1;
  await using redis = await startRedis();
  await using fleet = await startFleetHosts(redis, {
    count: 4,
    fleetName: "canary",
    programs: ["w1", "w2"],
    startsecs,
    args: () => ["--fleet-max", "3", "--fleet-canary", "1"],
  });
  await fleet.ready();
  await Promise.all(fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)));

  await fleet.deployAll("v2");
  await Promise.all(
    fleet.hosts.map((host) =>
      host.waitForLog(/Version "v2" applied: 2 restarted, 0 failed/, ROLLOUT_TIMEOUT_MS)
    ),
  );
  const logs = await Promise.all(fleet.hosts.map((host) => host.log()));
  const canaries = fleet.hosts.filter((_, i) =>
    /Fleet slot granted for .*\(canary\)/.test(logs[i]!)
  );
  assert.equal(canaries.length, 1, "exactly one canary");
  const canary = canaries[0]!;

  const intervals = await assertRestartedOnce(fleet.hosts);
  const canaryDown = intervals.find((i) => i.host === canary.id)!;
  // The canary counts as up when supervisord saw its last worker enter RUNNING (its own log):
  // its workers' own start lines lag supervisord's spawn by up to hundreds of ms on a loaded
  // machine, so "last start + startsecs" can be later than the moment it really was RUNNING.
  const canaryUpAt = Math.max(
    ...await Promise.all(
      canary.programs.map(async (name) => (await canary.runningTimes(name))[1]!),
    ),
  );
  // Its workers stopped, were spawned again and stayed up startsecs (log times truncate to ms).
  assert.ok(canaryUpAt + 1 >= canaryDown.from + startsecs * 1000, "the canary's second RUNNING");
  for (const interval of intervals.filter((i) => i.host !== canary.id)) {
    assert.ok(
      interval.from >= canaryUpAt,
      `${interval.host} went down ${Math.round(canaryUpAt - interval.from)} ms before ` +
        `the canary ${canary.id} was RUNNING`,
    );
  }
  const status = await waitForStatus(redis, "canary", "4 hosts done", (s) => s.counts.done === 4);
  assert.equal(status.halted, null);
});

Deno.test("redis-server restarted mid-rollout: every host restarts exactly once", async () => {
  await using redis = await startRedis();
  await using fleet = await startFleetHosts(redis, {
    count: 4,
    fleetName: "outage",
    args: () => ["--fleet-max", "1", "--fleet-lease", "3"],
  });
  await fleet.ready();
  await Promise.all(fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)));

  await fleet.deployAll("v2");
  // One host holds the slot, the others wait for it.
  await waitFor("one host granted, three waiting", async () => {
    const logs = await Promise.all(fleet.hosts.map((host) => host.log()));
    const granted = logs.filter((log) => /Fleet slot granted/.test(log)).length;
    const waiting = logs.filter((log) => /Waiting for a fleet slot/.test(log)).length;
    return granted >= 1 && waiting === 4 ? true : undefined;
  }, 60_000);
  const restartedAt = Date.now();
  await redis.restart();
  await Promise.all(
    fleet.hosts.map((host) =>
      host.waitForLog(/Version "v2" applied: 1 restarted, 0 failed/, ROLLOUT_TIMEOUT_MS)
    ),
  );

  const intervals = await assertRestartedOnce(fleet.hosts);
  const after = intervals.filter((i) => i.from > restartedAt).length;
  assert.ok(after >= 2, `${after} host(s) went down after the Redis restart; expected 2 or more`);
  const overlap = maxOverlap(intervals);
  assert.ok(
    overlap.count <= 1,
    `${overlap.count} hosts down at once (${overlap.hosts.join(", ")}) with --fleet-max 1`,
  );
  for (const host of fleet.hosts) {
    assert.equal(matchingLines(await host.log(), /applied:/).length, 1, `${host.id} applied once`);
  }
});

Deno.test("a wrong fleet password: a clear error naming the URL, never the password", async () => {
  const password = "fleetPw4a9c1e";
  const wrong = "wrongPw7b3d2f";
  await using redis = await startRedis({ password });
  await using fleet = await startFleetHosts(redis, {
    count: 3,
    fleetName: "auth",
    args: () => ["--fleet-max", "1"],
    password: (i) => i === 0 ? wrong : password,
  });
  await fleet.ready();
  await Promise.all(fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)));
  const [denied, ...allowed] = fleet.hosts as [FleetHost, ...FleetHost[]];
  const before = await pids(denied.sv);

  const startup = await denied.waitForLog(/Cannot reach the fleet at start-up/);
  const expected =
    `Cannot reach the fleet at start-up: Cannot connect to Redis at "${redis.url}": ` +
    "the password was refused (WRONGPASS); check RELEASEMON_FLEET_PASSWORD";
  assert.ok(startup.includes(expected), `no line says ${JSON.stringify(expected)}:\n${startup}`);
  for (const host of allowed) assert.match(await host.log(), /Connected to the fleet at /);

  await fleet.deployAll("v2");
  await Promise.all(
    allowed.map((host) =>
      host.waitForLog(/Version "v2" applied: 1 restarted, 0 failed/, ROLLOUT_TIMEOUT_MS)
    ),
  );
  const log = await denied.waitForLog(
    /ERROR .*Cannot use the fleet: .*WRONGPASS.*; version "v2" kept, retry in /,
  );
  assert.match(await denied.sv.ctl("status", "releasemon"), /^releasemon +RUNNING /m);
  assert.deepEqual(await pids(denied.sv), before, "the denied host restarted nothing");
  assert.doesNotMatch(log, /Version "v2" applied/);
  for (const host of fleet.hosts) {
    const text = await host.log();
    assert.ok(!text.includes(password), `${host.id}'s log shows the password`);
    assert.ok(!text.includes(wrong), `${host.id}'s log shows the wrong password`);
  }
});
