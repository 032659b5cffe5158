// Production hardening, end to end under a real supervisord: rolling restarts that halt on the
// first broken start, catch-up after downtime, revive, dry-run, start-up safety warnings.
import assert from "node:assert/strict";
import {
  changedPids,
  deploy,
  logTime,
  matchingLines,
  pids,
  readLog,
  releasemonInstance,
  startInstance,
  startSupervisordWith,
  stopInstance,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import { waitFor } from "../support/supervisord.ts";
import { quietPeriod, waitForLaterSecond } from "../support/waiting.ts";

// Records its start and stop (SIGTERM) times in nanoseconds, one line each, in the file $1.
const WORKER_SH = `#!/bin/sh
echo "start $(date +%s%N)" >> "$1"
trap 'echo "stop $(date +%s%N)" >> "$1"; exit 0' TERM
test -e "$(dirname "$1")/broken-$(basename "$1" .times)" && exit 3
while :; do sleep 0.05; done
`;

function worker(name: string, options: Record<string, string | number | boolean> = {}) {
  return {
    name,
    command: `sh %(here)s/worker.sh %(here)s/${name}.times`,
    options: { startsecs: 1, startretries: 0, ...options },
  };
}

/** [stop, start] pairs in ms (epoch) from a worker's times file, after its first start. */
async function restartTimes(dir: string, name: string): Promise<{ stop: number; start: number }[]> {
  const lines = (await Deno.readTextFile(`${dir}/${name}.times`)).trim().split("\n");
  const events = lines.map((line) => {
    const [kind, ns] = line.split(" ");
    return { kind: kind!, ms: Number(BigInt(ns!) / 1_000_000n) };
  });
  const pairs: { stop: number; start: number }[] = [];
  for (let i = 1; i + 1 < events.length; i++) {
    if (events[i]!.kind === "stop" && events[i + 1]!.kind === "start") {
      pairs.push({ stop: events[i]!.ms, start: events[i + 1]!.ms });
    }
  }
  return pairs;
}

Deno.test("rolling restarts under a real supervisord", async (t) => {
  const names = ["p1", "p2", "p3", "p4"];
  await using sv = await startSupervisordWith({
    programs: names.map((n) => worker(n)),
    groups: { pool: names },
    files: { "worker.sh": WORKER_SH, "v1/VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "rolling", [`${sv.dir}/v1/VERSION`, "-g", "pool", "--rolling"]),
    releasemonInstance(sv, "batches", [
      `${sv.dir}/v1/VERSION`,
      "-g",
      "pool",
      "--batch-size",
      "2",
      "--start-timeout",
      "10",
      "-post",
      `env | grep ^RELEASEMON_ > ${sv.dir}/post.env`,
    ]),
  ]);
  const namespecs = names.map((n) => `pool:${n}`);
  const versionFile = `${sv.dir}/v1/VERSION`;

  await t.step("--rolling restarts one at a time, each RUNNING before the next", async () => {
    await startInstance(sv, "rolling");
    try {
      const before = await waitForRunning(sv, namespecs);
      await deploy.atomic(versionFile, "v2\n");
      await waitForLog(sv, /Version "v2" applied: 4 restarted/, 60_000, "rolling.log");
      assert.deepEqual(
        changedPids(before, await pids(sv)).filter((n) => n.startsWith("pool:")),
        namespecs,
      );
      const log = await readLog(sv, "rolling.log");
      assert.equal(matchingLines(log, /Batch \d\/4/).length, 4);
      // Each program got its TERM only after releasemon had seen the previous one RUNNING (which
      // supervisord grants after its startsecs): both times on the same clock, load or not.
      const restarts = await Promise.all(names.map((n) => restartTimes(sv.dir, n)));
      for (let i = 1; i < names.length; i++) {
        const previousRunning = logTime(log, new RegExp(`Restarted pool:${names[i - 1]} `));
        const current = restarts[i]!.at(-1)!;
        assert.ok(
          current.stop >= previousRunning,
          `${names[i]} stopped ${previousRunning - current.stop} ms before ` +
            `${names[i - 1]} was seen RUNNING\n${log}`,
        );
      }
    } finally {
      await stopInstance(sv, "rolling");
    }
  });

  await t.step("a broken start halts the rollout; the rest keep the old release", async () => {
    await startInstance(sv, "batches");
    const before = await waitForRunning(sv, namespecs);
    await Deno.writeTextFile(`${sv.dir}/broken-p2`, "");
    await deploy.atomic(versionFile, "v3\n");
    const log = await waitForLog(sv, /ROLLING RESTART HALTED/, 60_000, "batches.log");
    assert.match(log, /pool:p2 \((BACKOFF|EXITED|FATAL) after start/);
    assert.match(log, /2 program\(s\) left on the previous release: pool:p3 pool:p4/);
    await waitFor("post-restart environment", async () => {
      const text = await Deno.readTextFile(`${sv.dir}/post.env`).catch(() => "");
      return text.includes("RELEASEMON_OUTCOME") ? text : undefined;
    });
    const env = await Deno.readTextFile(`${sv.dir}/post.env`);
    assert.match(env, /^RELEASEMON_OUTCOME=failed$/m);
    assert.match(env, /^RELEASEMON_FAILED=pool:p2$/m);
    assert.match(env, /^RELEASEMON_RESTARTED=pool:p1$/m);
    assert.match(env, /^RELEASEMON_UNTOUCHED=pool:p3 pool:p4$/m);
    const after = await pids(sv);
    assert.notEqual(after["pool:p1"], before["pool:p1"]);
    assert.equal(after["pool:p3"], before["pool:p3"]);
    assert.equal(after["pool:p4"], before["pool:p4"]);
  });

  await t.step("the next version starts a fresh rollout", async () => {
    await Deno.remove(`${sv.dir}/broken-p2`);
    await deploy.atomic(versionFile, "v4\n");
    const log = await waitForLog(
      sv,
      /Version "v4" applied: 3 restarted, 0 failed/,
      60_000,
      "batches.log",
    );
    // p2 crashed with v3 and is FATAL: without --revive a new version leaves it alone.
    assert.match(log, /Not restarting pool:p2: FATAL \(use --revive/);
    await waitForRunning(sv, ["pool:p1", "pool:p3", "pool:p4"]);
    await stopInstance(sv, "batches");
  });
});

Deno.test("catch-up after downtime restarts stale targets exactly once", async (t) => {
  await using sv = await startSupervisordWith({
    programs: [
      { name: "app", command: "sleep 3600" },
      { name: "other", command: "sleep 3600" },
    ],
    files: { "VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "rm", [`${sv.dir}/VERSION`, "app"], { extra: { autorestart: false } }),
    releasemonInstance(sv, "nocatch", [`${sv.dir}/VERSION`, "app", "--no-catch-up"], {
      extra: { autorestart: false },
    }),
  ]);
  const versionFile = `${sv.dir}/VERSION`;

  await t.step("a fresh boot (programs started after the version) restarts nothing", async () => {
    await waitForRunning(sv, ["app:app", "other:other"]);
    const before = await pids(sv);
    const log = await startInstance(sv, "rm");
    await quietPeriod(1_000, "a fresh boot: no catch-up restart");
    assert.deepEqual(changedPids(before, await pids(sv)), ["rm:rm"]);
    assert.doesNotMatch(await readLog(sv, "rm.log"), /Catch-up|Restarting/);
    assert.match(log, /Watching .*VERSION \(version "v1"\)/);
  });

  await t.step("SIGKILL, deploy, start again → the target restarts once", async () => {
    assert.match(await sv.ctl("signal", "KILL", "rm"), /signalled/);
    await waitFor("rm not running", async () => {
      const info = await sv.client().getProcessInfo("rm");
      return info.state === "RUNNING" ? undefined : info;
    });
    // The release lands in a later second than the target's start: the target is stale.
    await waitForLaterSecond(sv.dir, (await sv.client().getProcessInfo("app")).start);
    await deploy.atomic(versionFile, "v2\n");
    const before = await pids(sv);
    await sv.ctl("start", "rm");
    await waitForLog(
      sv,
      /Catch-up: 1 program\(s\) started before version "v2" appeared/,
      30_000,
      "rm.log",
    );
    await waitForLog(sv, /Version "v2" applied: 1 restarted/, 30_000, "rm.log");
    const afterFirst = await pids(sv);
    const programs = (changed: string[]) => changed.filter((n) => !n.startsWith("rm:"));
    assert.deepEqual(programs(changedPids(before, afterFirst)), ["app:app"]);
    await quietPeriod(1_000, "the catch-up restarts the target once, not again for the version");
    assert.deepEqual(programs(changedPids(afterFirst, await pids(sv))), []);
    assert.equal(matchingLines(await readLog(sv, "rm.log"), /applied:/).length, 1);
  });

  await t.step("--no-catch-up leaves a missed release alone", async () => {
    await stopInstance(sv, "rm");
    await waitForLaterSecond(sv.dir, (await sv.client().getProcessInfo("app")).start);
    await deploy.atomic(versionFile, "v3\n");
    const before = await pids(sv);
    await startInstance(sv, "nocatch");
    await quietPeriod(1_000, "--no-catch-up: no catch-up restart");
    assert.deepEqual(changedPids(before, await pids(sv)), ["nocatch:nocatch"]);
    assert.doesNotMatch(await readLog(sv, "nocatch.log"), /Catch-up/);
    await stopInstance(sv, "nocatch");
  });
});

Deno.test("--revive, --dry-run and start-up warnings", async (t) => {
  await using sv = await startSupervisordWith({
    programs: [
      worker("crashy"),
      { name: "web", command: "sleep 3600" },
      { name: "cron", command: "sleep 3600", options: { autostart: false } },
    ],
    files: { "worker.sh": WORKER_SH, "broken-crashy": "", "VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "revive", [`${sv.dir}/VERSION`, "-a", "--revive"]),
    releasemonInstance(sv, "dry", [
      `${sv.dir}/VERSION`,
      "-a",
      "--dry-run",
      "--no-catch-up",
      "-pre",
      `touch ${sv.dir}/pre-ran`,
    ]),
  ]);
  const versionFile = `${sv.dir}/VERSION`;

  await t.step("--revive starts a FATAL program with the new release; STOPPED stays", async () => {
    await waitFor("crashy FATAL", async () => {
      const info = await sv.client().getProcessInfo("crashy");
      return info.state === "FATAL" ? info : undefined;
    });
    await startInstance(sv, "revive");
    await waitForRunning(sv, ["web:web"]);
    await Deno.remove(`${sv.dir}/broken-crashy`); // the new release fixes it
    await deploy.atomic(versionFile, "v2\n");
    await Deno.chmod(versionFile, 0o666); // for the start-up warning checked below
    await waitForLog(sv, /Version "v2" applied: 2 restarted, 0 failed/, 30_000, "revive.log");
    assert.equal((await sv.client().getProcessInfo("crashy")).state, "RUNNING");
    assert.equal((await sv.client().getProcessInfo("cron")).state, "STOPPED");
    await stopInstance(sv, "revive");
  });

  await t.step("--dry-run says what it would restart and restarts nothing", async () => {
    const log = await startInstance(sv, "dry");
    assert.match(log, /Version file ".*VERSION" is writable by every user \(mode 0666\)/);
    const before = await pids(sv);
    await deploy.inPlace(versionFile, "v3\n");
    const text = await waitForLog(
      sv,
      /Dry run: would restart web:web \(RUNNING, pid \d+\)/,
      30_000,
      "dry.log",
    );
    assert.match(text, /Dry run: version "v3" would restart 2 program\(s\); hooks not run/);
    assert.match(text, /Dry run: would restart crashy:crashy/);
    await quietPeriod(500, "a dry run restarts nothing");
    assert.deepEqual(changedPids(before, await pids(sv)), []);
    assert.equal(await Deno.stat(`${sv.dir}/pre-ran`).catch(() => null), null);
    await stopInstance(sv, "dry");
  });
});

Deno.test("-c reads the server and credentials from supervisord.conf like supervisorctl", async () => {
  const auth = { username: "deploy", password: "c0nf-Secret" };
  await using sv = await startSupervisordWith({
    auth,
    programs: [{ name: "app", command: "sleep 3600" }],
    files: { "VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "rm", [`${sv.dir}/VERSION`, "app", "-c", sv.configPath], {
      // What supervisord tells its children is overridden by a wrong URL and no credentials:
      // only the configuration file can get releasemon in.
      extra: { environment: 'SUPERVISOR_SERVER_URL="unix:///nonexistent/supervisor.sock"' },
    }),
  ]);
  await waitForRunning(sv, ["app:app"]);
  const log = await startInstance(sv, "rm");
  assert.match(
    log,
    /supervisord connection settings from \[supervisorctl\] in .*supervisord\.conf/,
  );
  const before = await waitForRunning(sv, ["app:app"]);
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  const text = await waitForLog(
    sv,
    /Version "v2" applied: 1 restarted, 0 failed/,
    30_000,
    "rm.log",
  );
  assert.deepEqual(changedPids(before, await pids(sv)).filter((n) => n === "app:app"), ["app:app"]);
  assert.ok(!text.includes(auth.password), "the password never reaches the log");
  await stopInstance(sv, "rm");
});
