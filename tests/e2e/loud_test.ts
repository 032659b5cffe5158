// Misconfiguration is loud and logs are honest, as an operator meets them: a misspelt program
// name while running (partial, an ERROR each cycle, the post command told), PATH a directory
// (exit 2), JSON log lines with real types, and a version file that becomes readable after
// start-up judged by the catch-up rule instead of restarting everything.
import assert from "node:assert/strict";
import {
  deploy,
  matchingLines,
  ReleasemonProcess,
  REPO_ROOT,
  spawnReleasemon,
  startWithReleasemon,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import { startSupervisord } from "../support/supervisord.ts";
import { quietPeriod, waitForLaterSecond } from "../support/waiting.ts";

Deno.test("a misspelt program name while running: partial, an ERROR naming it each cycle, post told", async () => {
  await using sv = await startWithReleasemon(
    { programs: [{ name: "app", command: "sleep 3600" }], files: { VERSION: "v1\n" } },
    (sv) => [
      `${sv.dir}/VERSION`,
      "app",
      "nosuch",
      "--post-restart",
      'echo "post-restart outcome $RELEASEMON_OUTCOME" >&2',
    ],
  );
  const versionFile = `${sv.dir}/VERSION`;
  await waitForLog(sv, /\[run\] Watching /);
  await waitForRunning(sv, ["app:app"]);

  await deploy.atomic(versionFile, "v2\n");
  await waitForLog(sv, /post-restart outcome partial/);
  await deploy.atomic(versionFile, "v3\n");
  const log = await waitForLog(sv, /(post-restart outcome partial\n[^]*){2}/);

  assert.equal(matchingLines(log, /ERROR \[rollout\] No program matches nosuch/).length, 2, log);
  assert.match(
    log,
    /ERROR \[run\] Version "v2" partial: 1 restarted, 0 failed, 0 skipped in \d+ (ms|seconds?); no program matches nosuch\n/,
  );
  assert.match(log, /ERROR \[run\] Version "v3" partial: /);
  assert.doesNotMatch(log, /applied|outcome success/);
});

Deno.test("PATH that is a directory: exit 2 with the usage line, before watching", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rm-dir-path-" });
  try {
    await using rm = spawnReleasemon([dir, "app"], { socketPath: `${dir}/supervisor.sock` });
    const status = await rm.status;
    await rm.stop();
    assert.equal(status.code, 2, rm.log);
    assert.match(rm.log, /^usage: releasemon /);
    assert.match(
      rm.log,
      new RegExp(
        `releasemon: error: argument PATH: "${RegExp.escape(dir)}" is a directory; give the ` +
          `version file inside it, e\\.g\\. "${RegExp.escape(dir)}/VERSION"\\n$`,
      ),
    );
    assert.doesNotMatch(rm.log, /Watching/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--log-format json: every line parses, with raw versions, numbers and lists", async () => {
  await using sv = await startWithReleasemon(
    { programs: [{ name: "app", command: "sleep 3600" }], files: { VERSION: "v1\n" } },
    (sv) => [`${sv.dir}/VERSION`, "app", "--log-format", "json", "--fixed-delay", "1"],
  );
  await waitForLog(sv, /Watching /);
  await waitForRunning(sv, ["app:app"]);
  await deploy.atomic(`${sv.dir}/VERSION`, "v2\n");
  const log = await waitForLog(sv, /applied/);

  const entries = log.trimEnd().split("\n").map((line) => JSON.parse(line));
  const find = (pattern: RegExp) => entries.find((e) => pattern.test(e.message));
  const seen = find(/^New version/);
  assert.equal(seen.message, 'New version "v2" (was "v1"); restarting in 1 second');
  assert.deepEqual(seen.properties, { version: "v2", previous: "v1", delayMs: 1000 });
  const done = find(/applied/);
  assert.match(done.message, /^Version "v2" applied: 1 restarted, 0 failed, 0 skipped in /);
  assert.equal(done.properties.version, "v2");
  assert.equal(done.properties.restarted, 1);
  assert.equal(typeof done.properties.durationMs, "number");
  assert.deepEqual(find(/^Restarting 1 program/).properties.programs, ["app:app"]);
  assert.equal(find(/^Watching .* with/).properties.watchCount, 1);
});

Deno.test("a version file created by the first deploy restarts the targets started before it", async () => {
  await using sv = await startWithReleasemon(
    { programs: [{ name: "app", command: "sleep 3600" }] },
    (sv) => [`${sv.dir}/VERSION`, "app"],
  );
  await waitForLog(sv, /\[run\] Watching \S+ \(version none\)/);
  const before = await waitForRunning(sv, ["app:app"]);
  const startedAt = (await sv.client().getProcessInfo("app")).start;
  await waitForLaterSecond(sv.dir, startedAt);

  await deploy.atomic(`${sv.dir}/VERSION`, "s1\n");
  const log = await waitForLog(sv, /Version "s1" applied: 1 restarted/);
  assert.match(log, /Version "s1" found \(none readable at start\); restarting only the targets/);
  assert.match(log, /Catch-up: 1 program\(s\) started before version "s1" appeared/);
  assert.notEqual((await waitForRunning(sv, ["app:app"]))["app:app"], before["app:app"]);
  assert.doesNotMatch(log, /New version "s1"/);
});

const NOBODY = 65534;

/** Root with setpriv: releasemon can run as nobody, for whom a 0600 root file is unreadable. */
async function canDropPrivileges(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  const probe = await new Deno.Command("setpriv", {
    args: [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "true"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  return probe?.success ?? false;
}

Deno.test({
  name:
    "a version file unreadable at start, made readable: nothing restarted that started after it",
  ignore: !(await canDropPrivileges()),
  async fn() {
    await using sv = await startSupervisord({
      programs: [{ name: "app", command: "sleep 3600" }],
      files: { VERSION: "s1\n" },
      deferStart: true,
    });
    const versionFile = `${sv.dir}/VERSION`;
    await Deno.chmod(versionFile, 0o600);
    const writtenAt = Math.floor(((await Deno.stat(versionFile)).ctime?.getTime() ?? 0) / 1000);
    // The program starts in a later second than the version appeared: it already runs s1.
    await waitForLaterSecond(sv.dir, writtenAt);
    await sv.start();
    const before = await waitForRunning(sv, ["app:app"]);
    // releasemon runs as nobody (the installed wrapper: its cache is readable by anyone), for
    // whom the root-owned 0600 file is unreadable; it may reach the socket.
    await Deno.chmod(sv.dir, 0o755);
    await Deno.chown(sv.socketPath, NOBODY, NOBODY);
    const prefix = await installForNobody(sv.socketPath);
    try {
      await using rm = asNobody(prefix, [versionFile, "app"], sv.unixUrl);
      await rm.waitForLog(/\[run\] Watching \S+ \(version none\)/);
      assert.match(rm.log, /Cannot read the version file \S+: permission denied/);

      await Deno.chmod(versionFile, 0o644);
      await rm.waitForLog(/Version "s1" found \(none readable at start\)/);
      await quietPeriod(1_000, "a catch-up restart would come within the re-check and delay");
      assert.doesNotMatch(rm.log, /Restart|New version|Catch-up:/);
      assert.deepEqual(await waitForRunning(sv, ["app:app"]), before);
      assert.equal((await rm.stop()).code, 0);
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
});

Deno.test("a typo in -s unix://…: exit 2 saying no such socket, not a Deno permission", async () => {
  await using sv = await startSupervisord({
    programs: [{ name: "app", command: "sleep 3600" }],
    files: { VERSION: "v1\n" },
  });
  const typo = `${sv.dir}/supervisord.sock`;
  await using rm = spawnReleasemon(["-s", `unix://${typo}`, `${sv.dir}/VERSION`, "app"], {
    socketPath: sv.socketPath,
  });
  const status = await rm.status;
  await rm.stop();
  assert.equal(status.code, 2, rm.log);
  assert.match(
    rm.log,
    new RegExp(
      `releasemon: error: Cannot connect to supervisord at "unix://${
        RegExp.escape(typo)
      }": no such socket "${RegExp.escape(typo)}"; check the URL against the file= of ` +
        "supervisord's \\[unix_http_server\\] section; note that this releasemon may connect only " +
        "to the sockets it was built for",
    ),
  );
  assert.doesNotMatch(rm.log, /lacks the Deno permission/);

  // With --log-format json the fatal error is a JSON line too.
  await using json = spawnReleasemon(
    ["--log-format", "json", "-s", `unix://${typo}`, `${sv.dir}/VERSION`, "app"],
    { socketPath: sv.socketPath },
  );
  assert.equal((await json.status).code, 2, json.log);
  await json.stop();
  const entries = json.log.trimEnd().split("\n").map((line) => JSON.parse(line));
  const fatal = entries.at(-1);
  assert.equal(fatal.level, "fatal");
  assert.match(fatal.message, /^Cannot connect to supervisord at .*: no such socket /);
  assert.equal(fatal.properties.exitCode, 2);
});

/** `deno task install` into a temp prefix anyone may read (its cache too); returns the prefix. */
async function installForNobody(socketPath: string): Promise<string> {
  const prefix = await Deno.makeTempDir({ prefix: "rm-loud-install-" });
  await Deno.chmod(prefix, 0o755);
  const install = await new Deno.Command(Deno.execPath(), {
    args: ["task", "install", "--prefix", prefix, "--socket", socketPath],
    cwd: REPO_ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!install.success) {
    await Deno.remove(prefix, { recursive: true });
    throw new Error(`deno task install failed: ${new TextDecoder().decode(install.stderr)}`);
  }
  return prefix;
}

/** The installed wrapper run as nobody. */
function asNobody(prefix: string, args: string[], url: string): ReleasemonProcess {
  const argv = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];
  return new ReleasemonProcess([...argv, `${prefix}/bin/releasemon`, ...args], {
    SUPERVISOR_SERVER_URL: url,
    HOME: "/nonexistent",
  });
}

Deno.test({
  name:
    "a socket that refuses releasemon's user: an ERROR repeated with the backoff, until allowed",
  ignore: !(await canDropPrivileges()),
  async fn() {
    await using sv = await startSupervisord({
      programs: [{ name: "app", command: "sleep 3600" }],
      files: { VERSION: "v1\n" },
    });
    await Deno.chmod(sv.dir, 0o755);
    await Deno.chmod(sv.socketPath, 0o700); // root's only: nobody is refused
    const prefix = await installForNobody(sv.socketPath);
    try {
      await using rm = asNobody(prefix, [`${sv.dir}/VERSION`, "app"], sv.unixUrl);
      const refused =
        /ERROR \[run\] Cannot use supervisord: Cannot connect to supervisord at "[^"]+": permission denied; [^\n]*; retry (\d) in /g;
      await rm.waitForLog(/Cannot use supervisord: [^\n]*retry 3 in /);
      assert.deepEqual([...rm.log.matchAll(refused)].map((m) => m[1]), ["1", "2", "3"]);
      await Deno.chown(sv.socketPath, NOBODY, NOBODY);
      await rm.waitForLog(/INFO {2}\[run\] supervisord at unix:\/\/\S+ lets releasemon in now/);
      assert.equal((await rm.stop()).code, 0);
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
});
