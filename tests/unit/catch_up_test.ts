import assert from "node:assert/strict";
import { type CatchUpFs, staleTargets, versionAppearedAt } from "../../lib/catch_up.ts";
import type { Entry } from "../../lib/watch/path_chain.ts";
import type { ProcessInfo } from "../../lib/supervisor/client.ts";

/**
 * An in-memory file system: each path maps to [kind, ctime in seconds]; kind "dir", "file" or
 * "-> target". Every path lookup is answered from the table; "/" is a directory.
 */
function fakeFs(tree: Record<string, [string, number]>, cwd = "/"): CatchUpFs {
  const entries = new Map<string, [Entry, number]>([["/", [{ type: "directory", id: "0:/" }, 0]]]);
  for (const [path, [kind, ctimeSec]] of Object.entries(tree)) {
    const entry: Entry = kind.startsWith("-> ")
      ? { type: "symlink", target: kind.slice(3) }
      : kind === "dir"
      ? { type: "directory", id: `0:${path}` }
      : { type: "file", id: `0:${path}` };
    entries.set(path, [entry, ctimeSec * 1000]);
  }
  return {
    lookup: (path) => Promise.resolve(entries.get(path)?.[0] ?? { type: "missing" }),
    changedAtMs: (path) => Promise.resolve(entries.get(path)?.[1] ?? null),
    cwd: () => cwd,
  };
}

/** Capistrano: `current -> releases/new`, with an old release beside it. */
const CAPISTRANO: Record<string, [string, number]> = {
  "/srv": ["dir", 100],
  "/srv/app": ["dir", 100],
  "/srv/app/releases": ["dir", 500], // changed when an old release was pruned, after the deploy
  "/srv/app/releases/old": ["dir", 150],
  "/srv/app/releases/new": ["dir", 200],
  "/srv/app/releases/new/REVISION": ["file", 201],
  "/srv/app/current": ["-> releases/new", 300], // swapped at 300
};

Deno.test("versionAppearedAt() takes the newest of the file and the symlinks on its path", async () => {
  assert.equal(await versionAppearedAt("/srv/app/current/REVISION", fakeFs(CAPISTRANO)), 300);
});

Deno.test("versionAppearedAt() ignores directories whose times change with their siblings", async () => {
  // releases/ changed at 500 (an old release pruned) and app/ could too: neither moves the time.
  const pruned: Record<string, [string, number]> = { ...CAPISTRANO, "/srv/app": ["dir", 900] };
  delete pruned["/srv/app/releases/old"];
  assert.equal(await versionAppearedAt("/srv/app/current/REVISION", fakeFs(pruned)), 300);
});

Deno.test("versionAppearedAt() counts a file written after the link swap", async () => {
  const rewritten = {
    ...CAPISTRANO,
    "/srv/app/releases/new/REVISION": ["file", 400] as [string, number],
  };
  assert.equal(await versionAppearedAt("/srv/app/current/REVISION", fakeFs(rewritten)), 400);
});

Deno.test("versionAppearedAt() uses the ..data swap of a Kubernetes ConfigMap", async () => {
  const fs = fakeFs({
    "/etc": ["dir", 1],
    "/etc/cfg": ["dir", 999], // the kubelet adds and removes ..2026_* directories here
    "/etc/cfg/VERSION": ["-> ..data/VERSION", 10],
    "/etc/cfg/..data": ["-> ..2026_11_29", 700],
    "/etc/cfg/..2026_11_29": ["dir", 690],
    "/etc/cfg/..2026_11_29/VERSION": ["file", 690],
  });
  assert.equal(await versionAppearedAt("/etc/cfg/VERSION", fs), 700);
});

Deno.test("versionAppearedAt() resolves a relative path against the current directory", async () => {
  const fs = fakeFs(CAPISTRANO, "/srv/app");
  assert.equal(await versionAppearedAt("current/REVISION", fs), 300);
  assert.equal(await versionAppearedAt("./current/REVISION", fs), 300);
});

Deno.test("versionAppearedAt() is null for a missing file", async () => {
  assert.equal(await versionAppearedAt("/srv/app/current/MISSING", fakeFs(CAPISTRANO)), null);
});

Deno.test("staleTargets() keeps targets started in a second before the version appeared", () => {
  const info = (name: string, start: number) => ({ namespec: name, start }) as ProcessInfo;
  const targets = [info("a", 299), info("b", 300), info("c", 301), info("d", 0)];
  assert.deepEqual(staleTargets(targets, 300).map((i) => i.namespec), ["a"]);
});
