// restartPrograms() against a real supervisord: concurrency, per-program failures, abort.
import assert from "node:assert/strict";
import { restartPrograms } from "../../lib/restart.ts";
import { planRestart } from "../../lib/restart_plan.ts";
import type { ProcessInfo, SupervisorClient } from "../../lib/supervisor/client.ts";
import { startSupervisord, waitFor } from "../support/supervisord.ts";

// Takes a full second to stop: traps TERM, sleeps, exits. Sequential restarts of N of these would
// take N seconds; concurrent ones about one.
const SLOW_STOPPER = `sh -c 'trap "sleep 1; exit 0" TERM; while :; do sleep 0.1; done'`;
// The same, noting when its graceful stop began and ended (ns) in <dir>/<program>.stop.
const TIMED_STOPPER = "sh -c 'trap \"date +%%s%%N >> %(here)s/%(program_name)s.stop; sleep 1; " +
  "date +%%s%%N >> %(here)s/%(program_name)s.stop; exit 0\" TERM; while :; do sleep 0.1; done'";

async function allRunning(client: SupervisorClient, count: number): Promise<ProcessInfo[]> {
  return await waitFor(`${count} programs RUNNING`, async () => {
    const infos = await client.getAllProcessInfo();
    return infos.filter((i) => i.state === "RUNNING").length === count ? infos : undefined;
  });
}

Deno.test("restartPrograms() restarts N slow programs in about the time of one", async () => {
  const names = ["s1", "s2", "s3", "s4", "s5"];
  await using sv = await startSupervisord({
    // RUNNING only after startsecs (1 s): by then each shell has installed its TERM trap.
    programs: names.map((name) => ({ name, command: TIMED_STOPPER, options: { startsecs: 1 } })),
    groups: { slow: names },
  });
  const client = sv.client();
  const before = await allRunning(client, 5);

  const result = await restartPrograms(client, before);

  assert.deepEqual(result.failed, []);
  assert.deepEqual(result.restarted.sort(), names.map((n) => `slow:${n}`));
  // Concurrent, whatever the machine's load: every graceful stop began before any of them ended
  // (one after another, each would begin only after the previous one's 1 s had ended).
  const windows = await Promise.all(names.map(async (name) => {
    const [begin, end] = (await Deno.readTextFile(`${sv.dir}/${name}.stop`)).trim().split("\n");
    return { begin: BigInt(begin!), end: BigInt(end!) };
  }));
  const lastBegin = windows.reduce((max, w) => w.begin > max ? w.begin : max, 0n);
  const firstEnd = windows.reduce((min, w) => w.end < min ? w.end : min, windows[0]!.end);
  assert.ok(
    lastBegin < firstEnd,
    `stops ran one after another: ${
      JSON.stringify(windows, (_k, v) => typeof v === "bigint" ? String(v) : v)
    }`,
  );
  const after = await client.getAllProcessInfo();
  for (const info of after) {
    assert.equal(info.state, "RUNNING");
    assert.notEqual(info.pid, before.find((b) => b.namespec === info.namespec)!.pid);
  }
});

Deno.test("restartPrograms() reports a program that does not come back, restarts the rest", async () => {
  await using sv = await startSupervisord({
    programs: [
      { name: "good", command: "sleep 3600" },
      {
        name: "fragile",
        // Runs until the release breaks it; then it exits at once on every start.
        // supervisord expands %(here)s to the config file's directory.
        command: `sh -c 'test -e %(here)s/broken && exit 3; exec sleep 3600'`,
        options: { startsecs: 1, startretries: 1 },
      },
    ],
  });
  const client = sv.client();
  const before = await allRunning(client, 2);
  await Deno.writeTextFile(`${sv.dir}/broken`, "1");

  const result = await restartPrograms(client, before, { startTimeoutMs: 30_000 });

  assert.deepEqual(result.restarted, ["good:good"]);
  assert.equal(result.failed.length, 1);
  assert.equal(result.failed[0]!.namespec, "fragile:fragile");
  assert.match(result.failed[0]!.reason, /^(BACKOFF|EXITED|FATAL) after start/);
  assert.match(result.failed[0]!.reason, /stderr log/);
});

Deno.test("restartPrograms() starts what it stopped even when aborted", async () => {
  await using sv = await startSupervisord({
    programs: [{ name: "a", command: SLOW_STOPPER }, { name: "b", command: "sleep 3600" }],
  });
  const client = sv.client();
  const before = await allRunning(client, 2);
  await new Promise((r) => setTimeout(r, 300));
  const controller = new AbortController();
  const restarting = restartPrograms(client, before, { signal: controller.signal });
  setTimeout(() => controller.abort(), 100); // while "a" is still stopping
  const result = await restarting;
  assert.deepEqual(result.failed, []);
  // Both were started again; neither is left STOPPED.
  const after = await waitFor("both RUNNING again", async () => {
    const infos = await client.getAllProcessInfo();
    return infos.every((i) => i.state === "RUNNING") ? infos : undefined;
  });
  for (const info of after) {
    assert.notEqual(info.pid, before.find((b) => b.namespec === info.namespec)!.pid);
  }
});

Deno.test("planRestart() and restartPrograms() leave an operator-STOPPED program stopped", async () => {
  await using sv = await startSupervisord({
    programs: [{ name: "web", command: "sleep 3600" }, { name: "cron", command: "sleep 3600" }],
  });
  const client = sv.client();
  await allRunning(client, 2);
  await client.stopProcess("cron");
  const plan = planRestart(
    await client.getAllProcessInfo(),
    { programs: [], groups: [], any: true, runningOnly: false },
    { pid: Deno.pid, processName: null, groupName: null },
  );
  const result = await restartPrograms(client, plan.restart);
  assert.deepEqual(result.restarted, ["web:web"]);
  assert.equal((await client.getProcessInfo("cron")).state, "STOPPED");
  assert.match(await sv.ctl("status", "cron"), /STOPPED/);
});
