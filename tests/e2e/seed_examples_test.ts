// The five command lines from superfsmon's README (our seed), unchanged apart from shorter delays,
// each run as a supervisord [program] the way a sysadmin writes it:
//
//   [program:releasemon]
//   command=releasemon --fixed-delay 10 -g workers /appdir/.version
//
// One supervisord per value of CELERY_AUTORELOAD; every example is a releasemon [program] that a
// step starts, exercises and stops, so each runs exactly the command line it shows. Each example
// has its own `<example>/appdir/.version`, written before supervisord starts: releasemon's
// start-up catch-up then finds every target newer than its version and restarts nothing itself.
import assert from "node:assert/strict";
import {
  announcedDelayMs,
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
import { quietPeriod } from "../support/waiting.ts";
import type { ProgramSpec, Supervisord } from "../support/supervisord.ts";

const SLEEPER = "sleep 3600";
const APPS: ProgramSpec[] = [
  { name: "app", command: SLEEPER },
  { name: "app1", command: SLEEPER },
  { name: "w1", command: SLEEPER },
  { name: "w2", command: SLEEPER },
];
const TARGETS = ["app:app", "app1:app1", "workers:w1", "workers:w2"];
const FIXED_DELAY_S = 2;
const RANDOM_DELAY_S = 2;

/** `<dir>/<example>/appdir/.version`, standing in for the seed's `/appdir/.version`. */
const versionFile = (sv: { dir: string }, example: string) =>
  `${sv.dir}/${example}/appdir/.version`;
const versionFiles = (...examples: string[]) =>
  Object.fromEntries(examples.map((name) => [`${name}/appdir/.version`, "2024.06.01-0\n"]));

/** Starts the example's releasemon, waits for the targets (RUNNING, exec'd), deploys; returns pids before. */
async function startAndDeploy(
  sv: Supervisord,
  instance: string,
  version: string,
): Promise<{ before: Record<string, number>; deployedAt: number }> {
  await startInstance(sv, instance);
  const before = await waitForRunning(sv, TARGETS);
  const deployedAt = Date.now();
  await deploy.atomic(versionFile(sv, instance), `${version}\n`);
  return { before, deployedAt };
}

Deno.test("seed examples restart what they name when /appdir/.version changes", async (t) => {
  await using sv = await startSupervisordWith({
    programs: APPS,
    groups: { workers: ["w1", "w2"] },
    files: versionFiles("ex1", "ex2", "ex3", "ex4", "ex5"),
    env: { CELERY_AUTORELOAD: "1" },
  }, (sv) => [
    releasemonInstance(sv, "ex1", [versionFile(sv, "ex1"), "app"]),
    releasemonInstance(sv, "ex2", [
      "--pre-restart",
      "echo 'POST ROTATE SCRIPT'",
      versionFile(sv, "ex2"),
      "app",
    ]),
    releasemonInstance(sv, "ex3", [
      "--fixed-delay",
      String(FIXED_DELAY_S),
      "-g",
      "workers",
      versionFile(sv, "ex3"),
    ]),
    releasemonInstance(sv, "ex4", [
      "--random-delay",
      String(RANDOM_DELAY_S),
      "-g",
      "workers",
      versionFile(sv, "ex4"),
    ]),
    // Appended raw so that supervisord itself expands %(ENV_CELERY_AUTORELOAD)s.
    releasemonInstance(sv, "ex5", [versionFile(sv, "ex5"), "app1"], {
      rawArgs: "-e %(ENV_CELERY_AUTORELOAD)s",
    }),
  ]);

  await t.step("1. `releasemon /appdir/.version app` restarts app only", async () => {
    try {
      const { before } = await startAndDeploy(sv, "ex1", "2024.06.01-1");
      const log = await waitForLog(sv, /Version "2024\.06\.01-1" applied/, 30_000, "ex1.log");
      const after = await pids(sv);
      assert.deepEqual(changedPids(before, after), ["app:app"]);
      assert.match(
        log,
        new RegExp(
          `INFO {2}\\[\\w+\\] Restarted app:app \\(pid ${before["app:app"]} → ${
            after["app:app"]
          }\\)`,
        ),
      );
      assert.match(
        log,
        /INFO {2}\[\w+\] Version "2024\.06\.01-1" applied: 1 restarted, 0 failed, 0 skipped in \d+ ms/,
      );
    } finally {
      await stopInstance(sv, "ex1");
    }
  });

  await t.step(
    "2. `--pre-restart \"echo 'POST ROTATE SCRIPT'\"` runs it, then restarts app",
    async () => {
      try {
        const { before } = await startAndDeploy(sv, "ex2", "2024.06.01-2");
        const log = await waitForLog(sv, /Version "2024\.06\.01-2" applied/, 30_000, "ex2.log");
        const after = await pids(sv);
        assert.deepEqual(changedPids(before, after), ["app:app"]);
        const hookLines = matchingLines(log, /\[\w+\] pre-restart: /);
        assert.equal(hookLines.length, 1, log);
        assert.match(hookLines[0]!, /INFO {2}\[\w+\] pre-restart: POST ROTATE SCRIPT$/);
        assert.ok(
          logTime(log, /\[\w+\] pre-restart: POST ROTATE SCRIPT/) <=
            logTime(log, /Restarting 1 program\(s\)/),
          "the pre-restart command runs before the restart",
        );
      } finally {
        await stopInstance(sv, "ex2");
      }
    },
  );

  await t.step(
    `3. \`--fixed-delay ${FIXED_DELAY_S} -g workers\` restarts the group no earlier than the delay`,
    async () => {
      try {
        const { before, deployedAt } = await startAndDeploy(sv, "ex3", "2024.06.01-3");
        const planned = await waitForLog(sv, /restarting in /, 30_000, "ex3.log");
        const announced = matchingLines(planned, /restarting in /)[0]!;
        assert.equal(announcedDelayMs(announced), FIXED_DELAY_S * 1000, announced);
        // Halfway through the delay nothing has been touched yet.
        const halfway = deployedAt + FIXED_DELAY_S * 500;
        if (Date.now() < halfway) {
          await quietPeriod(halfway - Date.now(), "no restart in the first half of the delay");
        }
        if (Date.now() < deployedAt + FIXED_DELAY_S * 1000 - 100) {
          assert.deepEqual(changedPids(before, await pids(sv)), []);
        }
        const log = await waitForLog(sv, /Version "2024\.06\.01-3" applied/, 30_000, "ex3.log");
        const after = await pids(sv);
        assert.deepEqual(changedPids(before, after), ["workers:w1", "workers:w2"]);
        const restartedAfterMs = logTime(log, /Restarting 2 program\(s\)/) - deployedAt;
        assert.ok(
          restartedAfterMs >= FIXED_DELAY_S * 1000,
          `restarted ${restartedAfterMs} ms after the deploy`,
        );
      } finally {
        await stopInstance(sv, "ex3");
      }
    },
  );

  await t.step(
    `4. \`--random-delay ${RANDOM_DELAY_S} -g workers\` waits a random 0–${RANDOM_DELAY_S} s`,
    async () => {
      try {
        const { before, deployedAt } = await startAndDeploy(sv, "ex4", "2024.06.01-4");
        const log = await waitForLog(sv, /Version "2024\.06\.01-4" applied/, 30_000, "ex4.log");
        const after = await pids(sv);
        assert.deepEqual(changedPids(before, after), ["workers:w1", "workers:w2"]);
        const announced = matchingLines(log, /restarting in /)[0]!;
        const delayMs = announcedDelayMs(announced);
        assert.ok(delayMs >= 0 && delayMs <= RANDOM_DELAY_S * 1000, announced);
        const restartedAfterMs = logTime(log, /Restarting 2 program\(s\)/) - deployedAt;
        // The log rounds the delay to 0.1 s ("restarting in 0.7 seconds"): allow half of that.
        assert.ok(
          restartedAfterMs >= delayMs - 50,
          `restarted ${restartedAfterMs} ms after deploy`,
        );
      } finally {
        await stopInstance(sv, "ex4");
      }
    },
  );

  await t.step(
    "5. `-e %(ENV_CELERY_AUTORELOAD)s` with CELERY_AUTORELOAD=1 restarts app1",
    async () => {
      try {
        const { before } = await startAndDeploy(sv, "ex5", "2024.06.01-5");
        const log = await waitForLog(sv, /Version "2024\.06\.01-5" applied/, 30_000, "ex5.log");
        assert.deepEqual(changedPids(before, await pids(sv)), ["app1:app1"]);
        assert.doesNotMatch(log, /disabled/);
      } finally {
        await stopInstance(sv, "ex5");
      }
    },
  );
});

Deno.test("seed example 5 with CELERY_AUTORELOAD=0 stays up, disabled, and restarts nothing", async () => {
  await using sv = await startSupervisordWith({
    programs: [{ name: "app1", command: SLEEPER }, { name: "canary", command: SLEEPER }],
    files: versionFiles("shared"),
    env: { CELERY_AUTORELOAD: "0" },
  }, (sv) => [
    releasemonInstance(sv, "ex5", [versionFile(sv, "shared"), "app1"], {
      rawArgs: "-e %(ENV_CELERY_AUTORELOAD)s",
    }),
    // An enabled releasemon on the same file: its restart is the marker that the deploy was seen.
    releasemonInstance(sv, "marker", [versionFile(sv, "shared"), "canary"]),
  ]);
  const client = sv.client();
  await sv.ctl("start", "ex5");
  await waitForLog(sv, /disabled/, 30_000, "ex5.log");
  const ex5Pid = (await client.getProcessInfo("ex5")).pid;
  await startInstance(sv, "marker");
  const before = await waitForRunning(sv, ["app1:app1", "canary:canary"]);

  await deploy.atomic(versionFile(sv, "shared"), "2024.06.01-1\n");
  await waitForLog(sv, /Version "2024\.06\.01-1" applied/, 30_000, "marker.log");
  await quietPeriod(500, "the disabled one, which had the same chance, restarts nothing");

  assert.deepEqual(changedPids(before, await pids(sv)), ["canary:canary"]);
  const log = await readLog(sv, "ex5.log");
  const lines = matchingLines(log, /./);
  assert.equal(lines.length, 1, log);
  assert.match(
    lines[0]!,
    /^\S+ INFO {2}\[\w+\] releasemon is disabled \(-e\/--disable\); idle until stopped$/,
  );
  const info = await client.getProcessInfo("ex5");
  assert.equal(info.state, "RUNNING");
  assert.equal(info.pid, ex5Pid);
  assert.match(await sv.ctl("status", "ex5"), /^ex5\s+RUNNING\s+pid \d+/);
});
