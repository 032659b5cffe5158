// Catch-up's "when did this version appear" and the start-up safety warnings against the real
// file system: a Capistrano layout whose old releases are pruned, and relative version paths.
import assert from "node:assert/strict";
import { versionAppearedAt } from "../../lib/catch_up.ts";
import { versionFileWarnings } from "../../lib/safety.ts";
import { waitForLaterSecond } from "../support/waiting.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "rm-catchup-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `current -> releases/new`, beside `releases/old`, as `cap deploy` leaves it. */
async function capistrano(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/releases/old`, { recursive: true });
  await Deno.writeTextFile(`${dir}/releases/old/REVISION`, "v1\n");
  await Deno.mkdir(`${dir}/releases/new`);
  await Deno.writeTextFile(`${dir}/releases/new/REVISION`, "v2\n");
  await Deno.symlink("releases/new", `${dir}/current`);
  return `${dir}/current/REVISION`;
}

Deno.test("versionAppearedAt() does not move when an old Capistrano release is pruned", async () => {
  await withTempDir(async (dir) => {
    const path = await capistrano(dir);
    const appeared = await versionAppearedAt(path);
    assert.ok(appeared !== null);
    await waitForLaterSecond(dir, appeared);
    // Targets (re)started now run v2; pruning must not make them look stale.
    await Deno.remove(`${dir}/releases/old`, { recursive: true });
    await Deno.writeTextFile(`${dir}/unrelated`, "log\n");
    assert.equal(await versionAppearedAt(path), appeared);
  });
});

Deno.test("versionAppearedAt() moves when the current link is swapped", async () => {
  await withTempDir(async (dir) => {
    const path = await capistrano(dir);
    const before = await versionAppearedAt(path);
    assert.ok(before !== null);
    await waitForLaterSecond(dir, before);
    await Deno.symlink("releases/old", `${dir}/current.tmp`);
    await Deno.rename(`${dir}/current.tmp`, `${dir}/current`);
    const after = await versionAppearedAt(path);
    assert.ok(after !== null && after > before, `${after} > ${before}`);
  });
});

Deno.test("catch-up and the safety warnings work for a relative version path", async () => {
  await withTempDir(async (dir) => {
    await capistrano(dir);
    await Deno.chmod(`${dir}/releases/new/REVISION`, 0o666);
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    try {
      const absolute = await versionAppearedAt(`${dir}/current/REVISION`);
      assert.ok(absolute !== null);
      assert.equal(await versionAppearedAt("current/REVISION"), absolute);
      assert.deepEqual(await versionFileWarnings("current/REVISION"), [
        `Version file "${await Deno.realPath(dir)}/releases/new/REVISION" is writable by every ` +
        "user (mode 0666): anyone on this host can trigger restarts; run chmod o-w on it",
      ]);
    } finally {
      Deno.chdir(cwd);
    }
  });
});
