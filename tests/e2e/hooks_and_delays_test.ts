// Pre/post-restart commands and restart delays, as an operator sees them: what the hooks are told
// (RELEASEMON_* variables), when they run relative to the restart, what reaches the log, and what
// a version label full of shell syntax can do (nothing).
//
// One supervisord; one releasemon [program] for the delays and one for the hooks, each watching
// its own VERSION file written before supervisord starts (so start-up catch-up restarts nothing).
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

const FIXED_DELAY_S = 1;
const RANDOM_DELAY_S = 1;

/** Each hook appends its start time, saves its whole environment, and says something. */
function preHook(dir: string): string {
  return `date +%s.%N >> ${dir}/pre.times; env -0 > ${dir}/pre.env; ` +
    `echo "pre-restart says hello"; test "$RELEASEMON_VERSION" != bad`;
}
function postHook(dir: string): string {
  return `date +%s.%N >> ${dir}/post.times; env -0 > ${dir}/post.env; ` +
    `echo "post-restart outcome $RELEASEMON_OUTCOME" >&2`;
}

/** The RELEASEMON_* variables a hook saved with `env -0`. */
async function hookEnv(path: string): Promise<Record<string, string>> {
  const entries = (await Deno.readTextFile(path)).split("\0")
    .filter((entry) => entry.startsWith("RELEASEMON_"))
    .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]);
  return Object.fromEntries(entries);
}

/** The documented variables only (releasemon may add more). */
function pick(env: Record<string, string>, names: string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((name) => [name, env[name]]));
}

async function lastTime(path: string): Promise<number> {
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  return Number(lines.at(-1));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("releasemon runs hooks around the restart and honours its delays", async (t) => {
  await using sv = await startSupervisordWith({
    programs: [
      { name: "app_d", command: "sleep 3600" },
      // Records each start with sub-second precision (%% is a literal % for supervisord).
      {
        name: "app_h",
        command: `sh -c 'date +%%s.%%N >> %(here)s/app_h.starts; exec sleep 3600'`,
        // RUNNING (and so the post command) only once the program has written its start time:
        // with startsecs=0 supervisord calls it RUNNING before its shell has run at all.
        options: { startsecs: 1 },
      },
    ],
    files: { "delays/VERSION": "v1\n", "hooks/VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "delays", [
      "-fd",
      String(FIXED_DELAY_S),
      "-rd",
      String(RANDOM_DELAY_S),
      `${sv.dir}/delays/VERSION`,
      "app_d",
    ]),
    releasemonInstance(sv, "hooks", [
      "-pre",
      preHook(sv.dir),
      "-post",
      postHook(sv.dir),
      `${sv.dir}/hooks/VERSION`,
      "app_h",
    ], { extra: { directory: sv.dir } }), // hooks run in releasemon's working directory
  ]);
  const client = sv.client();
  const hooksVersion = `${sv.dir}/hooks/VERSION`;
  const hooksLog = () => readLog(sv, "hooks.log");
  /** Waits for the `count`-th post-restart hook to report `outcome` in the log. */
  const waitForPost = async (outcome: string, count: number) =>
    await waitForLog(
      sv,
      new RegExp(`(post-restart outcome ${outcome}\\n[^]*){${count}}`),
      30_000,
      "hooks.log",
    );

  await t.step("fixed plus random delay: restart no earlier than the fixed delay", async () => {
    try {
      await startInstance(sv, "delays");
      const before = await waitForRunning(sv, ["app_d:app_d"]);
      const deployedAt = Date.now();
      await deploy.atomic(`${sv.dir}/delays/VERSION`, "v2\n");
      await quietPeriod(FIXED_DELAY_S * 1000 * 0.6, "no restart during the fixed delay");
      if (Date.now() < deployedAt + FIXED_DELAY_S * 1000 - 100) {
        assert.deepEqual(changedPids(before, await pids(sv)), [], "restarted during the delay");
      }
      const log = await waitForLog(sv, /Version "v2" applied/, 30_000, "delays.log");
      assert.deepEqual(changedPids(before, await pids(sv)), ["app_d:app_d"]);
      const delayMs = announcedDelayMs(matchingLines(log, /restarting in /)[0]!);
      assert.ok(
        delayMs >= FIXED_DELAY_S * 1000 && delayMs <= (FIXED_DELAY_S + RANDOM_DELAY_S) * 1000,
        `announced ${delayMs} ms`,
      );
      const restartedAfterMs = logTime(log, /Restarting 1 program\(s\)/) - deployedAt;
      // The log rounds the delay to 0.1 s ("restarting in 1.7 seconds"): allow half of that.
      assert.ok(restartedAfterMs >= delayMs - 50, `restarted ${restartedAfterMs} ms after deploy`);
    } finally {
      await stopInstance(sv, "delays");
    }
  });

  await startInstance(sv, "hooks");
  try {
    await t.step(
      "pre runs, then the restart, then post, with the documented variables",
      async () => {
        const before = await waitForRunning(sv, ["app_h:app_h"]);
        await deploy.atomic(hooksVersion, "v2\n");
        const log = await waitForPost("success", 1);

        const after = await pids(sv);
        assert.deepEqual(changedPids(before, after), ["app_h:app_h"]);
        const preAt = await lastTime(`${sv.dir}/pre.times`);
        const startedAt = await lastTime(`${sv.dir}/app_h.starts`);
        const postAt = await lastTime(`${sv.dir}/post.times`);
        assert.ok(preAt < startedAt, `pre at ${preAt}, app_h started at ${startedAt}`);
        assert.ok(startedAt < postAt, `app_h started at ${startedAt}, post at ${postAt}`);
        const info = await client.getProcessInfo("app_h");
        assert.equal(info.pid, after["app_h:app_h"]);
        assert.ok(Math.floor(preAt) <= info.start && info.start <= postAt, `start ${info.start}`);

        const common = {
          RELEASEMON_VERSION: "v2",
          RELEASEMON_VERSION_HASH: await sha256Hex("v2\n"),
          RELEASEMON_PREVIOUS_VERSION: "v1",
          RELEASEMON_PREVIOUS_VERSION_HASH: await sha256Hex("v1\n"),
          RELEASEMON_VERSION_FILE: hooksVersion,
          RELEASEMON_PROGRAMS: "app_h:app_h",
        };
        const pre = await hookEnv(`${sv.dir}/pre.env`);
        assert.deepEqual(pick(pre, Object.keys(common)), common);
        assert.equal(pre.RELEASEMON_HOOK, "pre");
        assert.equal(pre.RELEASEMON_OUTCOME, undefined, "pre-restart is told no outcome");
        const post = await hookEnv(`${sv.dir}/post.env`);
        const postOnly = {
          RELEASEMON_HOOK: "post",
          RELEASEMON_OUTCOME: "success",
          RELEASEMON_RESTARTED: "app_h:app_h",
          RELEASEMON_FAILED: "",
          RELEASEMON_FAILED_REASONS: "",
          RELEASEMON_REASON: "",
        };
        assert.deepEqual(pick(post, [...Object.keys(common), ...Object.keys(postOnly)]), {
          ...common,
          ...postOnly,
        });

        // Hook output reaches releasemon's log: stdout as INFO, stderr as WARN.
        assert.match(log, /INFO {2}\[\w+\] pre-restart: pre-restart says hello\n/);
        assert.match(log, /WARN {2}\[\w+\] post-restart: post-restart outcome success\n/);
        assert.ok(
          logTime(log, /pre-restart says hello/) <= logTime(log, /Restarting 1 program/) &&
            logTime(log, /Version "v2" applied/) <= logTime(log, /post-restart outcome success/),
          log,
        );
      },
    );

    // Relative paths keep the label under the 80 characters a label may have; the hooks run in
    // sv.dir, and the test's own working directory is checked too.
    const label = "v3 $(touch pwned-dollar) `touch pwned-tick`; touch pwned-semi";

    await t.step("a version label full of shell syntax executes nothing", async () => {
      const before = await waitForRunning(sv, ["app_h:app_h"]);
      await deploy.atomic(hooksVersion, `${label}\n`);
      await waitForPost("success", 2);

      assert.deepEqual(changedPids(before, await pids(sv)), ["app_h:app_h"]);
      for (const marker of ["pwned-dollar", "pwned-tick", "pwned-semi"]) {
        for (const dir of [sv.dir, Deno.cwd()]) {
          assert.equal(
            await Deno.stat(`${dir}/${marker}`).then(() => true, () => false),
            false,
            `${dir}/${marker} was created: the version label was executed`,
          );
        }
      }
      const pre = await hookEnv(`${sv.dir}/pre.env`);
      const post = await hookEnv(`${sv.dir}/post.env`);
      assert.equal(pre.RELEASEMON_VERSION, label);
      assert.equal(post.RELEASEMON_VERSION, label);
      assert.equal(post.RELEASEMON_PREVIOUS_VERSION, "v2");
    });

    await t.step("every log line shows the untrusted version label quoted", async () => {
      const log = await hooksLog();
      const mentions = matchingLines(log, /v3 \$\(touch/);
      assert.ok(mentions.length >= 3, log);
      // The label, JSON-quoted as quoteVersion() writes it.
      const quoted = JSON.stringify(label);
      for (const line of mentions) {
        assert.ok(line.includes(quoted), `version not quoted in: ${line}`);
      }
    });

    await t.step(
      "a failing pre-restart command aborts: programs untouched, post told",
      async () => {
        const before = await waitForRunning(sv, ["app_h:app_h"]);
        await deploy.atomic(hooksVersion, "bad\n");
        const log = await waitForPost("aborted", 1);

        assert.deepEqual(changedPids(before, await pids(sv)), []);
        assert.match(
          log,
          /ERROR \[\w+\] Version "bad" aborted: pre-restart command exited with 1; programs left untouched\n/,
        );
        assert.doesNotMatch(log, /Version "bad" applied/);
        const post = await hookEnv(`${sv.dir}/post.env`);
        assert.equal(post.RELEASEMON_OUTCOME, "aborted");
        assert.equal(post.RELEASEMON_VERSION, "bad");
        assert.equal(post.RELEASEMON_PREVIOUS_VERSION, label);
        assert.equal(post.RELEASEMON_RESTARTED, "");
        assert.match(post.RELEASEMON_REASON ?? "", /pre-restart command exited with 1/);
      },
    );

    await t.step("after an aborted version, the next new version restarts normally", async () => {
      const before = await waitForRunning(sv, ["app_h:app_h"]);
      await deploy.atomic(hooksVersion, "v5\n");
      const log = await waitForPost("success", 3);

      assert.deepEqual(changedPids(before, await pids(sv)), ["app_h:app_h"]);
      assert.match(log, /Version "v5" applied: 1 restarted, 0 failed, 0 skipped/);
      const post = await hookEnv(`${sv.dir}/post.env`);
      assert.equal(post.RELEASEMON_OUTCOME, "success");
      assert.equal(post.RELEASEMON_RESTARTED, "app_h:app_h");
      // The programs ran the label version, not the aborted one.
      assert.equal(post.RELEASEMON_PREVIOUS_VERSION, label);
    });
  } finally {
    await stopInstance(sv, "hooks");
  }
});
