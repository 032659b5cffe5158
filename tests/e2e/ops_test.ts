// `--check` and `--status` as an operator meets them: main.ts run once by hand, under the
// binary's permissions, against a real supervisord, before any [program:releasemon] exists.
// Nothing may be restarted by either: the pids of every program are the same afterwards.
import assert from "node:assert/strict";
import { deploy, pids, releasemonArgv, textOutput, waitForRunning } from "../support/releasemon.ts";
import { freePort, startRedis } from "../support/redis.ts";
import { startSupervisord, type Supervisord, waitFor } from "../support/supervisord.ts";

const SLEEPER = "sleep 3600";
const INHERITED_BLOCKLIST = /^(SUPERVISOR_|NO_COLOR$)/;

/** Runs main.ts once with `args` (permitted to use only `sv`'s socket); returns exit code and output. */
async function runOnce(
  sv: Supervisord,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const inherited = Object.entries(Deno.env.toObject())
    .filter(([name]) => !INHERITED_BLOCKLIST.test(name));
  const [command, ...rest] = releasemonArgv(args, sv.socketPath);
  const output = await new Deno.Command(command!, {
    args: rest,
    clearEnv: true,
    env: { ...Object.fromEntries(inherited), ...sv.env() },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return textOutput(output);
}

Deno.test("--check reports the plan and each problem with its exit status, restarting nothing", async (t) => {
  await using sv = await startSupervisord({
    programs: [
      { name: "web", command: SLEEPER },
      { name: "w1", command: SLEEPER },
      { name: "w2", command: SLEEPER },
      { name: "maint", command: SLEEPER, options: { autostart: false } },
    ],
    groups: { workers: ["w1", "w2"] },
    files: { "VERSION": "v1\n", "hook.sh": "#!/bin/sh\nexit 0\n" },
  });
  const version = `${sv.dir}/VERSION`;
  const before = await waitForRunning(sv, ["web:web", "workers:w1", "workers:w2"]);
  await Deno.chmod(`${sv.dir}/hook.sh`, 0o755);

  await t.step("a good setup: exit 0, the plan in order, nothing restarted", async () => {
    const args = ["--check", "-fd", "2", "--rolling", "-pre", "true", "-post"];
    const run = await runOnce(sv, [
      ...args,
      `${sv.dir}/hook.sh`,
      version,
      "web",
      "maint",
      "-g",
      "workers",
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^releasemon --check: OK$/m);
    assert.match(run.stdout, /version file: ".*VERSION": "v1" \(sha256 [0-9a-f]{12}, appeared /);
    assert.match(run.stdout, /1\. wait 2 seconds$/m);
    assert.match(
      run.stdout,
      /2\. run the pre-restart command "true" \(a shell builtin; timeout 1 minute\)/,
    );
    assert.match(run.stdout, /3\. restart 3 program\(s\) in 3 batches of 1/);
    assert.match(run.stdout, /batch 1: web:web \(RUNNING, pid \d+\)/);
    assert.match(run.stdout, /batch 2: workers:w1 /);
    assert.match(run.stdout, /batch 3: workers:w2 /);
    assert.match(run.stdout, /4\. run the post-restart command ".*hook\.sh" \(found .*hook\.sh;/);
    assert.match(run.stdout, /leave alone: maint:maint: STOPPED/);
    assert.equal(run.stderr, "");
    assert.deepEqual(await pids(sv), { ...before, "maint:maint": 0 });
  });

  await t.step("JSON: one document with the plan", async () => {
    const run = await runOnce(sv, [
      "--check",
      "--log-format",
      "json",
      "--batch-size",
      "2",
      version,
      "-a",
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.versionFile.label, "v1");
    assert.deepEqual(
      report.plan.batches.map((batch: { namespec: string }[]) => batch.map((t) => t.namespec)),
      [["web:web", "workers:w1"], ["workers:w2"]],
    );
    assert.deepEqual(report.problems, []);
  });

  await t.step("a misspelt group: exit 2, named, with the closest name", async () => {
    const run = await runOnce(sv, ["--check", version, "web", "-g", "wrokers"]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stdout, /problem: No group matches -g "wrokers"/);
    assert.match(run.stdout, /fix: did you mean "workers"\?/);
    const json = await runOnce(sv, ["--check", "--log-format", "json", version, "wbe"]);
    assert.equal(json.code, 2);
    const report = JSON.parse(json.stdout);
    assert.equal(report.ok, false);
    assert.equal(report.problems[0].severity, "configuration");
    assert.match(report.problems[0].fix, /did you mean "web"/);
  });

  await t.step("PATH is a directory: exit 2", async () => {
    const run = await runOnce(sv, ["--check", sv.dir, "web"]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stdout, /problem: PATH ".*" is a directory; releasemon watches one file/);
    assert.match(run.stdout, /fix: give the version file inside it, e\.g\. .*\/VERSION/);
  });

  await t.step("a hook that does not exist: exit 2", async () => {
    const run = await runOnce(sv, [
      "--check",
      "-pre",
      "/nonexistent/migrate --force",
      version,
      "web",
    ]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /The -pre\/--pre-restart command "\/nonexistent\/migrate" does not exist/,
    );
  });

  await t.step("a missing socket: exit 1, says so (not a Deno permission)", async () => {
    const typo = `unix://${sv.dir}/supervisord.sock`;
    const run = await runOnce(sv, ["--check", "-s", typo, version, "web"]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /no such socket ".*\/supervisord\.sock"/);
    assert.match(run.stdout, /may connect only to the sockets it was built for/);
    assert.doesNotMatch(run.stdout + run.stderr, /lacks the Deno permission/);
  });

  await t.step("--fleet: Redis answers (exit 0, no host joined) or not (exit 1)", async () => {
    await using redis = await startRedis();
    const good = await runOnce(sv, ["--check", "--fleet", redis.url, version, "web"]);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /^fleet: redis:\/\/127\.0\.0\.1:\d+.* name releasemon/m);
    assert.equal(await redis.cli("DBSIZE"), "0"); // --check never joins the fleet
    const down = `redis://127.0.0.1:${freePort()}`;
    const bad = await runOnce(sv, ["--check", "--fleet", down, version, "web"]);
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /problem: .*127\.0\.0\.1/);
  });

  assert.deepEqual(await pids(sv), { ...before, "maint:maint": 0 });
});

Deno.test("--status tells current, stale and down targets apart, with its exit status", async (t) => {
  await using sv = await startSupervisord({
    programs: [
      { name: "old", command: SLEEPER },
      { name: "new", command: SLEEPER },
      { name: "off", command: SLEEPER, options: { autostart: false } },
    ],
  });
  const version = `${sv.dir}/VERSION`;
  const started = await waitForRunning(sv, ["old:old", "new:new"]);
  // "old" started before the version appears (a later second), "new" is restarted after it.
  const oldStart = (await sv.client().getProcessInfo("old:old")).start;
  await waitFor(
    "the next second",
    () => Date.now() / 1000 >= oldStart + 1 ? true : undefined,
    5_000,
  );
  await deploy.atomic(version, "v2\n");
  assert.match(await sv.ctl("restart", "new"), /new: started/);
  const after = await waitForRunning(sv, ["old:old", "new:new"]);
  assert.notEqual(after["new:new"], started["new:new"]);

  await t.step("text: a table, exit 3", async () => {
    const run = await runOnce(sv, ["--status", version, "old", "new", "off"]);
    assert.equal(run.code, 3, run.stdout + run.stderr);
    assert.match(run.stdout, /version file: ".*VERSION": "v2" \(sha256 [0-9a-f]{12}, appeared /);
    assert.match(run.stdout, /^PROGRAM +STATE +PID +STARTED +VERSION$/m);
    assert.match(
      run.stdout,
      new RegExp(`^new:new +RUNNING +${after["new:new"]} +\\S+Z +current$`, "m"),
    );
    assert.match(
      run.stdout,
      new RegExp(`^old:old +RUNNING +${after["old:old"]} +\\S+Z +stale$`, "m"),
    );
    assert.match(run.stdout, /^off:off +STOPPED +- +- +down$/m);
    assert.match(run.stdout, /summary: 1 current, 1 stale, 1 down; exit 3/);
  });

  await t.step("JSON, and exit 0 when every target is current", async () => {
    const run = await runOnce(sv, ["--status", "--log-format", "json", version, "old", "new"]);
    assert.equal(run.code, 3);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      report.targets.map((t: { namespec: string; status: string }) => [t.namespec, t.status]),
      [["new:new", "current"], ["old:old", "stale"]],
    );
    assert.equal(report.versionFile.label, "v2");
    assert.equal(typeof report.targets[0].pid, "number");
    const current = await runOnce(sv, ["--status", version, "new"]);
    assert.equal(current.code, 0, current.stdout + current.stderr);
    assert.match(current.stdout, /summary: 1 current; exit 0/);
  });

  assert.deepEqual(await pids(sv), { ...after, "off:off": 0 });
});
