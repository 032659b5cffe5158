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

/** Runs `argv` as nobody, no network, an empty environment but PATH, HOME and `env`. */
async function asNobodyOffline(argv: string[], env: Record<string, string> = {}) {
  const vars = Object.entries({ HOME: "/nonexistent", PATH: "/usr/bin:/bin", ...env })
    .map(([name, value]) => `${name}=${value}`);
  const output = await new Deno.Command("unshare", {
    args: [
      "-n",
      "setpriv",
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "env",
      "-i",
      ...vars,
      ...argv,
    ],
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return textOutput(output);
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
      assert.match(wrapper, / run --frozen --cached-only /);
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
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
});
