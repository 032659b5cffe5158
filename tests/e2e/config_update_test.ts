// --update-config end to end: programs live in [include]d conf.d/*.conf files, as packages and
// deploy tools lay them out; a release changes, adds and removes definitions and releasemon
// applies them with each program started exactly once.
import assert from "node:assert/strict";
import {
  changedPids,
  deploy,
  matchingLines,
  pids,
  readLog,
  startSupervisordWith,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import { releasemonProgram } from "../support/releasemon.ts";
import type { Supervisord } from "../support/supervisord.ts";
import { confProgram, waitFor } from "../support/supervisord.ts";

const INCLUDE = "[include]\nfiles = conf.d/*.conf\n";

/** How many times supervisord spawned `name` so far (its own log). */
async function spawnCount(sv: Supervisord, name: string): Promise<number> {
  const log = await Deno.readTextFile(`${sv.dir}/supervisord.log`);
  return matchingLines(log, new RegExp(`spawned: '${name}' with pid`)).length;
}

async function commandLine(pid: number): Promise<string> {
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll("\0", " ").trim();
}

async function postEnv(sv: Supervisord, version: string): Promise<string> {
  return await waitFor(`post-restart environment for ${version}`, async () => {
    const text = await Deno.readTextFile(`${sv.dir}/post.env`).catch(() => "");
    return text.includes(`RELEASEMON_VERSION=${version}\n`) ? text : undefined;
  });
}

Deno.test("--update-config applies changed, added and removed definitions exactly once", async (t) => {
  await using sv = await startSupervisordWith({
    extraConfig: INCLUDE,
    files: {
      "conf.d/changed.conf": confProgram("changed", "sleep 3600"),
      "conf.d/same.conf": confProgram("same", "sleep 3600"),
      "VERSION": "v1\n",
    },
  }, (sv) => [
    releasemonProgram(sv, [
      `${sv.dir}/VERSION`,
      "-a",
      "--update-config",
      "-post",
      `env | grep ^RELEASEMON_ > ${sv.dir}/post.env`,
    ]),
  ]);
  const versionFile = `${sv.dir}/VERSION`;
  await waitForLog(sv, /\[run\] Watching /);
  await waitForRunning(sv, ["changed:changed", "same:same", "releasemon:releasemon"]);

  await t.step("a changed command, a new program and an unchanged one", async () => {
    const before = await pids(sv);
    const spawnsBefore = await spawnCount(sv, "changed");
    await sv.writeFile("conf.d/changed.conf", confProgram("changed", "sleep 3601"));
    await sv.writeFile("conf.d/newbie.conf", confProgram("newbie", "sleep 3602"));
    await deploy.atomic(versionFile, "v2\n");
    const log = await waitForLog(sv, /Version "v2" applied: 3 restarted, 0 failed/);
    assert.match(log, /re-create group changed with its new definition/);
    assert.match(log, /add new group newbie/);
    const after = await waitForRunning(sv, ["changed:changed", "same:same", "newbie:newbie"]);
    assert.equal(after["releasemon:releasemon"], undefined); // waitForRunning lists only asked ones
    assert.equal((await pids(sv))["releasemon:releasemon"], before["releasemon:releasemon"]);
    assert.match(await commandLine(after["changed:changed"]!), /^sleep 3601$/);
    assert.notEqual(after["same:same"], before["same:same"]);
    assert.equal(await spawnCount(sv, "changed"), spawnsBefore + 1);
    assert.equal(await spawnCount(sv, "newbie"), 1);
    const env = await postEnv(sv, "v2");
    assert.match(env, /^RELEASEMON_RECREATED=changed:changed$/m);
    assert.match(env, /^RELEASEMON_ADDED=newbie:newbie$/m);
    assert.match(env, /^RELEASEMON_REMOVED=$/m);
    assert.match(env, /^RELEASEMON_OUTCOME=success$/m);
  });

  await t.step("a release that removes a program", async () => {
    await Deno.remove(`${sv.dir}/conf.d/same.conf`);
    await deploy.atomic(versionFile, "v3\n");
    const log = await waitForLog(sv, /Version "v3" applied/);
    assert.match(log, /Removed group same \(same:same\)/);
    const infos = await sv.client().getAllProcessInfo();
    assert.ok(!infos.some((i) => i.namespec === "same:same"));
    assert.match(await postEnv(sv, "v3"), /^RELEASEMON_REMOVED=same:same$/m);
    assert.doesNotMatch(await sv.ctl("status"), /^same\s/m);
  });

  await t.step("a broken conf.d file restarts nothing; the next good version applies", async () => {
    const before = await pids(sv);
    await sv.writeFile("conf.d/broken.conf", "[program:broken]\nautostart=true\n");
    await deploy.atomic(versionFile, "v4\n");
    const log = await waitForLog(sv, /Nothing restarted for version "v4": supervisord cannot read/);
    assert.match(log, /CANT_REREAD|does not specify a command/);
    await waitForLog(
      sv,
      /ERROR \[\w+\] Version "v4" failed: supervisord cannot read its new configuration/,
    );
    const env = await postEnv(sv, "v4");
    assert.match(env, /^RELEASEMON_OUTCOME=failed$/m);
    assert.match(env, /^RELEASEMON_REASON=supervisord cannot read its new configuration: /m);
    assert.deepEqual(changedPids(before, await pids(sv)), []);

    await Deno.remove(`${sv.dir}/conf.d/broken.conf`);
    await sv.writeFile("conf.d/changed.conf", confProgram("changed", "sleep 3603"));
    await deploy.atomic(versionFile, "v5\n");
    await waitForLog(sv, /Version "v5" applied: 2 restarted, 0 failed/);
    const after = await waitForRunning(sv, ["changed:changed", "newbie:newbie"]);
    assert.match(await commandLine(after["changed:changed"]!), /^sleep 3603$/);
  });

  await t.step("releasemon's own section changed: a warning, and it keeps its pid", async () => {
    const before = await pids(sv);
    const config = await Deno.readTextFile(sv.configPath);
    await Deno.writeTextFile(
      sv.configPath,
      config.replace("[program:releasemon]\n", "[program:releasemon]\nenvironment=CHANGED=1\n"),
    );
    await deploy.atomic(versionFile, "v6\n");
    const log = await waitForLog(sv, /Version "v6" applied/);
    assert.match(
      log,
      /releasemon's own definition \(group releasemon\) changed; restart releasemon to apply it/,
    );
    assert.equal((await pids(sv))["releasemon:releasemon"], before["releasemon:releasemon"]);
    // Five versions, one summary each: v4 (CANT_REREAD) failed, never "applied".
    const summaries = matchingLines(await readLog(sv), /\[run\] Version "v\d" \w+: /);
    assert.deepEqual(
      summaries.map((line) => line.match(/Version "(v\d)" (\w+):/)!.slice(1).join(" ")),
      [
        "v2 applied",
        "v3 applied",
        "v4 failed",
        "v5 applied",
        "v6 applied",
      ],
    );
  });
});

Deno.test("--update-config leaves a changed group with non-target members to the operator", async () => {
  await using sv = await startSupervisordWith({
    extraConfig: INCLUDE + "[group:mixed]\nprograms=m1,m2\n",
    files: {
      "conf.d/m.conf": confProgram("m1", "sleep 3600") + "\n" + confProgram("m2", "sleep 3600"),
      "VERSION": "v1\n",
    },
  }, (sv) => [releasemonProgram(sv, [`${sv.dir}/VERSION`, "mixed:m1", "--update-config"])]);
  await waitForLog(sv, /\[run\] Watching /);
  await waitForRunning(sv, ["mixed:m1", "mixed:m2"]);
  const before = await pids(sv);
  await sv.writeFile(
    "conf.d/m.conf",
    confProgram("m1", "sleep 3601") + "\n" + confProgram("m2", "sleep 3601"),
  );
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  const log = await waitForLog(sv, /Version "v2" applied: 1 restarted/);
  assert.match(
    log,
    /Group mixed changed but also holds programs that are not targets \(mixed:m2\).*supervisorctl update mixed/,
  );
  const after = await pids(sv);
  assert.deepEqual(changedPids(before, after).filter((n) => n.startsWith("mixed:")), ["mixed:m1"]);
  assert.match(await commandLine(after["mixed:m1"]!), /^sleep 3600$/); // old definition, as warned
});

Deno.test("--update-config re-creates a program whose graceful stop outlasts the RPC timeout once, and it runs", async () => {
  // TERM makes sh finish its current 0.2 s sleep, then drain for 12 s: longer than the default
  // 10 s --rpc-timeout, well within stopwaitsecs=20 (supervisord never SIGKILLs it).
  const slow = (tag: string) =>
    `[program:slow]\ncommand=sh -c 'trap "sleep 12; exit 0" TERM; while :; do sleep 0.2; done' ${tag}\n` +
    "startsecs=0\nstopwaitsecs=20\n";
  await using sv = await startSupervisordWith({
    extraConfig: INCLUDE,
    files: { "conf.d/slow.conf": slow("v1"), "VERSION": "v1\n" },
  }, (sv) => [
    releasemonProgram(sv, [
      `${sv.dir}/VERSION`,
      "-a",
      "--update-config",
      "-post",
      `env | grep ^RELEASEMON_ > ${sv.dir}/post.env`,
    ]),
  ]);
  await waitForRunning(sv, ["slow:slow", "releasemon:releasemon"]);
  await waitForLog(sv, /\[run\] Watching /);
  const spawnsBefore = await spawnCount(sv, "slow");

  await sv.writeFile("conf.d/slow.conf", slow("v2"));
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  const log = await waitForLog(sv, /Version "v2" applied: /, 90_000);
  // The cycle ends only once the program runs its new definition.
  const info = await sv.client().getProcessInfo("slow:slow");
  assert.equal(info.state, "RUNNING", log);
  assert.match(await commandLine(info.pid), / v2$/);
  assert.match(log, /Version "v2" applied: 1 restarted, 0 failed/);
  assert.equal(matchingLines(log, /Re-created group slow/).length, 1, log);
  assert.equal(await spawnCount(sv, "slow"), spawnsBefore + 1);
  const svLog = await Deno.readTextFile(`${sv.dir}/supervisord.log`);
  assert.match(svLog, /stopped: slow \(exit status 0\)/); // drained, not killed
  const env = await postEnv(sv, "v2");
  assert.match(env, /^RELEASEMON_OUTCOME=success$/m);
  assert.match(env, /^RELEASEMON_RECREATED=slow:slow$/m);
});
