// releasemon's life as a process: the command line (usage errors, --help, --version), being
// disabled, stopping on SIGTERM, supervisord not there yet or restarted under it, and talking to
// supervisord with a password or over inet_http_server.
//
// Command-line cases run main.ts directly under the binary's permissions; the rest run it as a
// supervisord [program] or, where supervisord must come and go, as a plain subprocess.
import assert from "node:assert/strict";
import {
  deploy,
  logTime,
  matchingLines,
  readLog,
  releasemonArgv,
  spawnReleasemon,
  startWithReleasemon,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import { quietPeriod } from "../support/waiting.ts";
import { startSupervisord, waitFor } from "../support/supervisord.ts";

const decoder = new TextDecoder();
// deno-lint-ignore no-control-regex
const ANSI = /\x1b/;
const USAGE_START = "usage: releasemon [-h] [--version]";

/** Runs main.ts to completion with `args` (no SUPERVISOR_* or NO_COLOR from the runner). */
async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !/^(SUPERVISOR_|NO_COLOR$)/.test(name)),
  );
  const [program, ...rest] = releasemonArgv(args, "/tmp/releasemon-e2e-unused.sock");
  const output = await new Deno.Command(program!, {
    args: rest,
    clearEnv: true,
    env,
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("usage errors exit 2 with the usage line and one reason on stderr", async (t) => {
  const cases: [string, string[], string][] = [
    [
      "no PROG, -g or -a",
      ["/app/.version"],
      "nothing to restart: name programs (PROG), groups (-g/--group GROUP) or all (-a/--any)",
    ],
    ["-a with PROG", ["-a", "/app/.version", "web"], "argument -a/--any: not allowed with PROG"],
    [
      "-e maybe",
      ["-e", "maybe", "/app/.version", "web"],
      'argument -e/--enable: invalid FLAG "maybe": use 1/0, true/false, yes/no or on/off',
    ],
    [
      "a negative delay",
      ["-fd", "-1", "/app/.version", "web"],
      'argument -fd/--fixed-delay: must be a non-negative number of seconds, got "-1"',
    ],
    [
      "a negative random delay",
      ["--random-delay=-5", "/app/.version", "web"],
      'argument -rd/--random-delay: must be a non-negative number of seconds, got "-5"',
    ],
    ["an unknown flag", ["--bogus", "/app/.version", "web"], "unrecognized arguments: --bogus"],
  ];
  for (const [name, args, reason] of cases) {
    await t.step(`${name}: ${reason}`, async () => {
      const { code, stdout, stderr } = await runMain(args);
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      assert.ok(stderr.startsWith(USAGE_START), stderr);
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.at(-1), `releasemon: error: ${reason}`);
      assert.equal(matchingLines(stderr, /error/).length, 1, stderr);
      assert.doesNotMatch(stderr, ANSI);
    });
  }
});

Deno.test("--help and --version print on stdout and exit 0", async (t) => {
  await t.step("--help", async () => {
    const { code, stdout, stderr } = await runMain(["--help"]);
    assert.equal(code, 0);
    assert.equal(stderr, "");
    assert.ok(stdout.startsWith(USAGE_START), stdout);
    for (const flag of ["--fixed-delay", "--random-delay", "--running-only", "--pre-restart"]) {
      assert.ok(stdout.includes(flag), `--help does not mention ${flag}`);
    }
    assert.match(stdout, /RELEASEMON_VERSION/);
    assert.doesNotMatch(stdout, ANSI);
  });

  await t.step("--version matches deno.json", async () => {
    const { version } = JSON.parse(
      await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
    );
    const { code, stdout, stderr } = await runMain(["--version"]);
    assert.equal(code, 0);
    assert.equal(stderr, "");
    assert.equal(stdout, `releasemon ${version}\n`);
  });
});

Deno.test("disabled (--disable) stays RUNNING and stops cleanly on supervisorctl stop", async () => {
  await using sv = await startWithReleasemon(
    { programs: [{ name: "app", command: "sleep 3600" }], files: { VERSION: "v1\n" } },
    // --disable takes an optional FLAG, so it goes last, as its help says.
    (sv) => [`${sv.dir}/VERSION`, "app", "--disable"],
  );
  const client = sv.client();
  const log = await waitForLog(sv, /disabled/);
  assert.match(
    log,
    /INFO {2}\[\w+\] releasemon is disabled \(-e\/--disable\); idle until stopped\n/,
  );
  const pid = (await client.getProcessInfo("releasemon")).pid;
  const app = (await waitForRunning(sv, ["app:app"]))["app:app"];
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  // An exit would show as another pid (supervisord respawns it) or as BACKOFF/FATAL.
  await quietPeriod(1_000, "disabled: no exit, no crash loop, no restart on a new version");
  const idle = await client.getProcessInfo("releasemon");
  assert.equal(idle.state, "RUNNING");
  assert.equal(idle.pid, pid);
  assert.equal((await client.getProcessInfo("app")).pid, app);

  const started = Date.now();
  assert.match(await sv.ctl("stop", "releasemon"), /releasemon: stopped/);
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms to stop`);
  const info = await client.getProcessInfo("releasemon");
  assert.equal(info.state, "STOPPED");
  assert.equal(info.exitstatus, 0);
  assert.match(
    await Deno.readTextFile(`${sv.dir}/supervisord.log`),
    /stopped: releasemon \(exit status 0\)/,
  );
  assert.equal(matchingLines(await readLog(sv), /disabled/).length, 1);
});

Deno.test("SIGTERM stops a watching releasemon promptly with exit status 0", async () => {
  await using sv = await startSupervisord({
    programs: [{ name: "app", command: "sleep 3600" }],
    files: { VERSION: "v1\n" },
  });
  await using rm = spawnReleasemon([`${sv.dir}/VERSION`, "app"], {
    socketPath: sv.socketPath,
    env: sv.env(),
  });
  await rm.waitForLog(/\[run\] Watching /);
  const started = Date.now();
  const status = await rm.stop("SIGTERM");
  const tookMs = Date.now() - started;
  assert.equal(status.code, 0, rm.log);
  assert.ok(tookMs < 3_000, `took ${tookMs} ms`);
  assert.match(rm.log, /INFO {2}\[\w+\] SIGTERM received; stopping\n/);
  assert.match(rm.log, /INFO {2}\[\w+\] releasemon stopped\n/);
});

Deno.test("supervisord started after releasemon: the pending restart happens once it answers", async () => {
  await using sv = await startSupervisord({
    programs: [{ name: "app", command: "sleep 3600" }],
    files: { VERSION: "v1\n" },
    deferStart: true,
  });
  const versionFile = `${sv.dir}/VERSION`;
  await using rm = spawnReleasemon([versionFile, "app"], {
    socketPath: sv.socketPath,
    env: sv.env(),
  });
  await rm.waitForLog(/\[run\] Watching /);
  assert.match(
    rm.log,
    new RegExp(
      `WARN {2}\\[\\w+\\] Cannot reach supervisord at start-up: Cannot connect to supervisord at "unix://${
        RegExp.escape(sv.socketPath)
      }": no such file; [^\\n]*will retry when a version arrives\\n`,
    ),
  );

  await deploy.atomic(versionFile, "v2\n");
  await rm.waitForLog(/Cannot restart for version "?v2"?: [^\n]*; retry 1 in \d+ ms/);
  const upAt = Date.now();
  await sv.start();
  const log = await rm.waitForLog(/Version "v2" applied/);

  assert.match(log, /INFO {2}\[\w+\] Version "v2" applied: 1 restarted, 0 failed, 0 skipped/);
  assert.ok(logTime(log, /Restarted app:app/) >= upAt);
  // The pid supervisord started app with, replaced once by releasemon. (Not counted from the
  // program's own start log: a restart within ms of supervisord's spawn may kill the shell before
  // it writes anything.)
  const [, firstPid, newPid] = log.match(/Restarted app:app \(pid (\d+) → (\d+)\)/)!;
  assert.notEqual(firstPid, newPid);
  assert.equal((await sv.client().getProcessInfo("app")).pid, Number(newPid));
  assert.equal(matchingLines(log, /Restarted app:app/).length, 1);
  assert.equal(rm.exited, false);
  assert.equal((await rm.stop()).code, 0);
});

Deno.test("supervisord restarted mid-run: the outage is logged, the restart follows", async () => {
  await using sv = await startSupervisord({
    programs: [{ name: "app", command: "sleep 3600" }],
    files: { VERSION: "v1\n" },
  });
  const versionFile = `${sv.dir}/VERSION`;
  await using rm = spawnReleasemon([versionFile, "app"], {
    socketPath: sv.socketPath,
    env: sv.env(),
  });
  await rm.waitForLog(/\[run\] Watching /);
  await sv.stop();

  await deploy.atomic(versionFile, "v2\n");
  // A few retries while supervisord is down.
  await rm.waitForLog(/Cannot restart for version "?v2"?: [^\n]*; retry 3 in /);
  assert.equal(rm.exited, false, rm.log);
  const upAt = Date.now();
  await sv.start();
  const log = await rm.waitForLog(/Version "v2" applied/);

  assert.match(
    log,
    new RegExp(
      `WARN {2}\\[\\w+\\] Cannot restart for version "?v2"?: Cannot connect to supervisord at "unix://${
        RegExp.escape(sv.socketPath)
      }": no such file`,
    ),
  );
  assert.match(log, /Version "v2" applied: 1 restarted, 0 failed, 0 skipped/);
  assert.ok(logTime(log, /Restarted app:app/) >= upAt, "restarted before supervisord was back");
  const restarted = log.match(/Restarted app:app \(pid \d+ → (\d+)\)/)!;
  assert.equal((await sv.client().getProcessInfo("app")).pid, Number(restarted[1]));
  assert.doesNotMatch(log, /ERROR/);
  assert.equal(rm.exited, false);
  assert.equal((await rm.stop()).code, 0);
});

const USERNAME = "ops";
const PASSWORD = "s3cr3t-Pa55-7f1c";

Deno.test("with a password on the unix socket, restarts work and the password is never logged", async () => {
  await using sv = await startWithReleasemon(
    {
      programs: [{ name: "app", command: "sleep 3600" }],
      files: { VERSION: "v1\n" },
      auth: { username: USERNAME, password: PASSWORD },
    },
    // debug: every RPC call is logged, the most chances to leak.
    (sv) => ["--log-level", "debug", `${sv.dir}/VERSION`, "app"],
    {
      // supervisord gives its children SUPERVISOR_SERVER_URL only; the credentials come from the
      // program's environment= line, as an operator would write it.
      extra: {
        environment: `SUPERVISOR_USERNAME="${USERNAME}",SUPERVISOR_PASSWORD="${PASSWORD}"`,
      },
    },
  );
  await waitForLog(sv, /\[run\] Watching /);
  const before = await waitForRunning(sv, ["app:app"]);
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  const log = await waitForLog(sv, /Version "v2" applied/);

  assert.match(log, /Version "v2" applied: 1 restarted, 0 failed, 0 skipped/);
  assert.notEqual((await sv.client().getProcessInfo("app")).pid, before["app:app"]);
  assert.match(await sv.ctl("stop", "releasemon"), /releasemon: stopped/);
  const whole = await readLog(sv);
  assert.ok(!whole.includes(PASSWORD), "the password is in the log");
  assert.ok(
    !whole.includes(btoa(`${USERNAME}:${PASSWORD}`)),
    "the Authorization header is in the log",
  );
});

Deno.test("a wrong password: a clear 401 error, exit 1 once, password not printed", async () => {
  const wrong = "wr0ng-Pa55-c4f3";
  await using sv = await startSupervisord({
    programs: [{ name: "app", command: "sleep 3600" }],
    files: { VERSION: "v1\n" },
    auth: { username: USERNAME, password: PASSWORD },
  });
  await using rm = spawnReleasemon([`${sv.dir}/VERSION`, "app"], {
    socketPath: sv.socketPath,
    env: { ...sv.env(), SUPERVISOR_PASSWORD: wrong },
  });
  const status = await waitFor("releasemon to exit", () => rm.exited ? rm.status : undefined);
  await rm.stop(); // collects the rest of stderr

  assert.equal(status.code, 1, rm.log);
  const errors = matchingLines(rm.log, /401/);
  assert.equal(errors.length, 1, rm.log);
  assert.match(
    errors[0]!,
    new RegExp(
      `Cannot log in to supervisord at "?unix://${
        RegExp.escape(sv.socketPath)
      }"?: wrong username or password \\(HTTP 401\\)`,
    ),
  );
  for (const secret of [wrong, PASSWORD, btoa(`${USERNAME}:${wrong}`)]) {
    assert.ok(!rm.log.includes(secret), `${secret} is in the output`);
  }
});

Deno.test("over inet_http_server (-s http://127.0.0.1:PORT)", async () => {
  await using sv = await startWithReleasemon(
    { programs: [{ name: "app", command: "sleep 3600" }], files: { VERSION: "v1\n" }, inet: true },
    (sv) => ["-s", sv.inetUrl!, `${sv.dir}/VERSION`, "app"],
  );
  const client = sv.client({ url: sv.inetUrl! });
  await waitForLog(sv, /\[run\] Watching /);
  const before = (await waitForRunning(sv, ["app:app"]))["app:app"];
  // With the unix socket gone, only the inet server can answer releasemon.
  await Deno.remove(sv.socketPath);
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  const log = await waitForLog(sv, /Version "v2" applied/);

  assert.match(log, /Version "v2" applied: 1 restarted, 0 failed, 0 skipped/);
  const after = await client.getProcessInfo("app");
  assert.equal(after.state, "RUNNING");
  assert.notEqual(after.pid, before);
});
