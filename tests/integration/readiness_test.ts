// rollOut() with readiness checks against a real supervisord: what a check is told, --update-config
// checks the programs it re-created and added, a dry run only logs the checks, and an attempt that
// outlives the time left is killed with its process group.
import { withLog } from "../support/log_capture.ts";
import assert from "node:assert/strict";
import type { LogRecord } from "../../lib/logger.ts";
import { hookEnvironment } from "../../lib/hooks.ts";
import { renderMessage } from "../../lib/log.ts";
import type { ReadinessSettings } from "../../lib/readiness.ts";
import { rollOut, type RolloutOptions } from "../../lib/rollout.ts";
import { startSupervisord, startWithPendingConfChange, waitFor } from "../support/supervisord.ts";

const options = (overrides: Partial<RolloutOptions>): RolloutOptions => ({
  selection: { programs: [], groups: [], any: true, runningOnly: false },
  self: { pid: -1, processName: null, groupName: null },
  batchSize: null,
  startTimeoutMs: 20_000,
  dryRun: false,
  versionLabel: '"v2"',
  signal: new AbortController().signal,
  ...overrides,
});

const readiness = (check: string, timeoutMs = 10_000): ReadinessSettings => ({
  check,
  url: null,
  intervalMs: 100,
  timeoutMs,
  env: hookEnvironment("ready", {
    version: { label: "v2", hash: "f".repeat(64) },
    previous: null,
    versionFile: "/app/.version",
    programs: [],
  }),
});

const text = (record: LogRecord) => renderMessage(record);

Deno.test("rollOut() checks re-created and added programs, and tells each check its program", async () => {
  await using sv = await startWithPendingConfChange();
  const client = sv.client();
  const log = `${sv.dir}/checks.log`;
  const check = `echo "$RELEASEMON_PROGRAM $RELEASEMON_PROGRAM_NAME $RELEASEMON_PROGRAM_GROUP ` +
    `$RELEASEMON_PROGRAM_PID $RELEASEMON_HOOK $RELEASEMON_VERSION \${SUPERVISOR_PASSWORD-none}" >> ${log}`;
  Deno.env.set("SUPERVISOR_PASSWORD", "s3cret");
  let report;
  try {
    await withLog(async (records) => {
      report = await rollOut(
        client,
        options({ updateConfig: true, readiness: readiness(check) }),
      );
      assert.equal(
        records.filter((r) =>
          /^Ready (app:app|newbie:newbie) \(pid \d+\) after \d+\.\d s$/.test(text(r))
        ).length,
        2,
      );
    });
  } finally {
    Deno.env.delete("SUPERVISOR_PASSWORD");
  }
  assert.deepEqual(report!.config, {
    recreated: ["app:app"],
    added: ["newbie:newbie"],
    removed: [],
  });
  assert.deepEqual(report!.failed, []);
  const pidOf = async (namespec: string) => (await client.getProcessInfo(namespec)).pid;
  const lines = (await Deno.readTextFile(log)).trim().split("\n").sort();
  assert.deepEqual(lines, [
    `app:app app app ${await pidOf("app:app")} ready v2 none`,
    `newbie:newbie newbie newbie ${await pidOf("newbie:newbie")} ready v2 none`,
  ]);
});

Deno.test("rollOut() --dry-run logs the checks it would run and runs none", async () => {
  await using sv = await startSupervisord({ programs: [{ name: "web", command: "sleep 3600" }] });
  const client = sv.client();
  await waitFor("web RUNNING", async () => {
    const info = await client.getProcessInfo("web:web");
    return info.state === "RUNNING" ? info : undefined;
  });
  const marker = `${sv.dir}/ran`;
  await withLog(async (records) => {
    await rollOut(client, options({ dryRun: true, readiness: readiness(`touch ${marker}`) }));
    assert.deepEqual(
      records.map(text).filter((line) => line.includes("readiness")),
      [`Dry run: would then check readiness of web:web: sh -c "touch ${marker}"`],
    );
  });
  assert.equal(await Deno.stat(marker).catch(() => null), null);
});

Deno.test("rollOut() kills an attempt that outlives the time left; the program stays running", async () => {
  await using sv = await startSupervisord({ programs: [{ name: "web", command: "sleep 3600" }] });
  const client = sv.client();
  await waitFor("web RUNNING", async () => {
    const info = await client.getProcessInfo("web:web");
    return info.state === "RUNNING" ? info : undefined;
  });
  const pidFile = `${sv.dir}/check.pid`;
  const started = Date.now();
  const report = await rollOut(
    client,
    options({
      batchSize: 1,
      readiness: readiness(
        `echo "still starting"; sh -c 'echo $$ > ${pidFile}; exec sleep 30'`,
        1_000,
      ),
    }),
  );
  assert.ok(Date.now() - started < 15_000, "gave up within the time left plus the kill grace");
  assert.deepEqual(report.failed, [
    { namespec: "web:web", reason: "not ready after 1 s: still starting" },
  ]);
  assert.deepEqual(report.notReady, ["web:web"]);
  assert.deepEqual(report.restarted, []);
  assert.equal((await client.getProcessInfo("web:web")).state, "RUNNING");
  const sleeper = Number((await Deno.readTextFile(pidFile)).trim());
  await waitFor("the check's sleep is gone", async () => {
    const stat = await Deno.readTextFile(`/proc/${sleeper}/stat`).catch(() => null);
    return stat === null || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z") || undefined;
  }, 5_000);
});
