// `deno task install` as an operator uses it: install into a prefix, then start the wrapper cold
// as an unprivileged user whose HOME does not exist, with the network unreachable (a network
// namespace of its own): `--version` and `--check` work from the installed cache alone.
import assert from "node:assert/strict";
import { permissionFlags } from "../../scripts/permissions.ts";
import { REPO_ROOT, textOutput, waitForRunning } from "../support/releasemon.ts";
import { startSupervisord } from "../support/supervisord.ts";

const NOBODY = 65534;

/** Root with `unshare` and `setpriv`: what it takes to run as nobody without network. */
async function canIsolate(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  const probe = await new Deno.Command("unshare", {
    args: ["-n", "setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "true"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  return probe?.success ?? false;
}

/** `unshare` arguments that run `argv` as nobody, no network, an environment of PATH, HOME, `env`. */
function nobodyOffline(argv: string[], env: Record<string, string> = {}): string[] {
  const vars = Object.entries({ HOME: "/nonexistent", PATH: "/usr/bin:/bin", ...env })
    .map(([name, value]) => `${name}=${value}`);
  return [
    "-n",
    "setpriv",
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    "env",
    "-i",
    ...vars,
    ...argv,
  ];
}

/** Runs `argv` as nobody, offline (see {@link nobodyOffline}); waits for it to exit. */
async function asNobodyOffline(argv: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command("unshare", {
    args: nobodyOffline(argv, env),
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return textOutput(output);
}

/**
 * Above this, the installer did not write Deno's caches for the bundle: measured on Deno 2.9.6,
 * an installed releasemon idles at 44-46 MiB with them and at 54 MiB when each start has to
 * build them (and, as nobody, cannot keep them).
 */
const IDLE_BOUND_MIB = 50;

/** Starts `command args` as nobody without network, waits until it watches, returns its VmRSS. */
async function idleRssAsNobody(command: string, args: string[]): Promise<number> {
  const child = new Deno.Command("unshare", {
    args: nobodyOffline([command, ...args]),
    cwd: "/",
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      while (!/\[run\] Watching /.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`releasemon exited before watching:\n${text}`);
        text += value;
      }
    } finally {
      clearTimeout(deadline);
    }
    // The deno process is the newest process running as nobody whose command line names main.js.
    const pid = await _denoPidOf(child.pid);
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    while (!(await reader.read()).done) { /* until it exits */ }
    await child.status;
  }
}

/** The deno process under `pid` (unshare → setpriv → env → sh → deno exec in place of each). */
async function _denoPidOf(pid: number): Promise<number> {
  const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
  if (cmdline.includes("/lib/releasemon/main.js")) return pid;
  const children = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => "");
  for (const child of children.trim().split(/\s+/).filter(Boolean)) {
    const found = await _denoPidOf(Number(child)).catch(() => 0);
    if (found > 0) return found;
  }
  throw new Error(`Cannot find releasemon's deno process under pid ${pid}`);
}

Deno.test({
  name: "the installed wrapper starts offline, as nobody, with the binary's permissions",
  ignore: !(await canIsolate()),
  async fn() {
    await using sv = await startSupervisord({
      programs: [{ name: "web", command: "sleep 3600" }],
      files: { VERSION: "v1\n" },
    });
    const before = await waitForRunning(sv, ["web:web"]);
    // nobody may reach the socket and read the version file.
    await Deno.chmod(sv.dir, 0o755);
    await Deno.chown(sv.socketPath, NOBODY, NOBODY);
    const prefix = await Deno.makeTempDir({ prefix: "rm-install-" });
    try {
      await Deno.chmod(prefix, 0o755);
      const install = await new Deno.Command(Deno.execPath(), {
        args: ["task", "install", "--prefix", prefix, "--socket", sv.socketPath],
        cwd: REPO_ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const installLog = new TextDecoder().decode(install.stderr);
      assert.ok(install.success, installLog);
      assert.match(installLog, /installed .*\/bin\/releasemon \(releasemon 0\.1\.0\)/);

      const wrapper = await Deno.readTextFile(`${prefix}/bin/releasemon`);
      assert.match(wrapper, /^export NO_COLOR=1$/m);
      assert.match(wrapper, / run --no-config --cached-only /);
      assert.match(wrapper, /\/lib\/releasemon\/main\.js "\$@"$/m);
      for (const flag of permissionFlags({ sockets: [sv.socketPath] })) {
        assert.ok(wrapper.includes(flag), `${flag} missing from the wrapper:\n${wrapper}`);
      }

      const version = await asNobodyOffline([`${prefix}/bin/releasemon`, "--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout, "releasemon 0.1.0\n");

      const check = await asNobodyOffline(
        [`${prefix}/bin/releasemon`, "--check", `${sv.dir}/VERSION`, "web"],
        { SUPERVISOR_SERVER_URL: sv.unixUrl },
      );
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /^releasemon --check: OK$/m);
      assert.match(check.stdout, /- web:web \(RUNNING, pid \d+\)/);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(check.stdout + check.stderr, /\x1b\[/);
      assert.deepEqual(await waitForRunning(sv, ["web:web"]), before);

      // The fleet code and its Redis client load from the installed cache too: the error is
      // Redis being unreachable (no network here), not a module that cannot be found.
      const fleet = await asNobodyOffline([
        `${prefix}/bin/releasemon`,
        "--fleet-status",
        "--fleet",
        "redis://127.0.0.1:1",
      ]);
      assert.equal(fleet.code, 1, fleet.stdout + fleet.stderr);
      assert.match(fleet.stderr, /Cannot connect to Redis at "redis:\/\/127\.0\.0\.1:1\/0"/);

      // Idle as nobody, who cannot write the installed caches: the installer's first start wrote
      // them, so this start idles at the bundle's size, not 9 MiB above it.
      const idleMiB = await idleRssAsNobody(`${prefix}/bin/releasemon`, [
        "-s",
        sv.unixUrl,
        `${sv.dir}/VERSION`,
        "web",
      ]);
      assert.ok(idleMiB < IDLE_BOUND_MIB, `idle RSS ${idleMiB.toFixed(1)} MiB as nobody`);
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
});
