import assert from "node:assert/strict";
import {
  absolutePath,
  type Entry,
  eventHints,
  type Lookup,
  MAX_SYMLINK_HOPS,
  type PathChain,
  resolveChain,
  roleOf,
} from "../../lib/watch/path_chain.ts";

/**
 * An in-memory file system: "dir/" is a directory, "-> target" a symlink, anything else a file.
 * Parent directories are implied. Ids are "0:<path>"; "dir/#2" is a directory replaced by a new
 * one (id "0:<path>#2").
 */
function fakeFs(tree: Record<string, string>): Lookup {
  const entries = new Map<string, Entry>([["/", { type: "directory", id: "0:/" }]]);
  for (const [path, spec] of Object.entries(tree)) {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join("/")}`;
      if (!entries.has(dir)) entries.set(dir, { type: "directory", id: `0:${dir}` });
    }
    const [kind, generation] = spec.split("#");
    const id = generation === undefined ? path : `${path}#${generation}`;
    entries.set(
      path,
      kind!.startsWith("-> ")
        ? { type: "symlink", target: kind!.slice(3) }
        : kind === "dir/"
        ? { type: "directory", id: `0:${id}` }
        : { type: "file", id: `0:${id}` },
    );
  }
  return (path) => Promise.resolve(entries.get(path) ?? { type: "missing" });
}

/** The watched directories and their names, as plain data. */
function watches(chain: PathChain): Record<string, Record<string, string>> {
  return Object.fromEntries(
    [...chain.directories].map(([dir, { names }]) => [dir, Object.fromEntries(names)]),
  );
}

Deno.test("resolveChain() watches only the file's directory for a plain path", async () => {
  const chain = await resolveChain("/app/VERSION", fakeFs({ "/app/VERSION": "v1" }));
  assert.deepEqual(watches(chain), { "/app": { VERSION: "file" } });
  assert.equal(chain.target, "/app/VERSION");
});

Deno.test("resolveChain() watches the symlink's directory and the target's for current -> releases/42", async () => {
  const fs = fakeFs({
    "/srv/app/current": "-> releases/42",
    "/srv/app/releases/42/VERSION": "v42",
  });
  const chain = await resolveChain("/srv/app/current/VERSION", fs);
  assert.deepEqual(watches(chain), {
    "/srv/app": { current: "link", releases: "link" },
    "/srv/app/releases/42": { VERSION: "file" },
  });
  assert.equal(chain.target, "/srv/app/releases/42/VERSION");
});

Deno.test("resolveChain() watches two directories for a Kubernetes ConfigMap layout", async () => {
  const fs = fakeFs({
    "/etc/cfg/VERSION": "-> ..data/VERSION",
    "/etc/cfg/..data": "-> ..2026_11_25_10_00_00.123",
    "/etc/cfg/..2026_11_25_10_00_00.123/VERSION": "v1",
  });
  const chain = await resolveChain("/etc/cfg/VERSION", fs);
  assert.deepEqual(watches(chain), {
    "/etc/cfg": { VERSION: "link", "..data": "link", "..2026_11_25_10_00_00.123": "link" },
    "/etc/cfg/..2026_11_25_10_00_00.123": { VERSION: "file" },
  });
  assert.equal(chain.target, "/etc/cfg/..2026_11_25_10_00_00.123/VERSION");
});

Deno.test("resolveChain() follows absolute targets and '..' physically, from the link's directory", async () => {
  const fs = fakeFs({
    "/opt/link": "-> /data/releases/7",
    "/data/releases/7/sub": "dir/",
    "/data/releases/VERSION": "v7",
  });
  // /opt/link/sub/../../VERSION: ".." after a symlink leaves the target, not /opt.
  const chain = await resolveChain("/opt/link/sub/../../VERSION", fs);
  assert.deepEqual(watches(chain), {
    "/opt": { link: "link" },
    "/data/releases": { VERSION: "file" },
  });
  assert.equal(chain.target, "/data/releases/VERSION");
});

Deno.test("resolveChain() watches the deepest existing directory for the first missing name", async () => {
  const fs = fakeFs({ "/srv/other": "x" });
  const missingDir = await resolveChain("/srv/app/VERSION", fs);
  assert.deepEqual(watches(missingDir), { "/srv": { app: "link" } });
  assert.equal(missingDir.target, null);

  const missingFile = await resolveChain("/srv/VERSION", fs);
  assert.deepEqual(watches(missingFile), { "/srv": { VERSION: "file" } });
  assert.equal(missingFile.target, null);
});

Deno.test("resolveChain() waits on a dangling symlink's missing target", async () => {
  const fs = fakeFs({ "/etc/cfg/VERSION": "-> ..data/VERSION", "/etc/cfg/..data": "-> ..gone" });
  const chain = await resolveChain("/etc/cfg/VERSION", fs);
  assert.deepEqual(watches(chain), {
    "/etc/cfg": { VERSION: "link", "..data": "link", "..gone": "link" },
  });
  assert.equal(chain.target, null);
});

Deno.test("resolveChain() stops at a file where a directory is needed", async () => {
  const chain = await resolveChain("/srv/app/VERSION", fakeFs({ "/srv/app": "a file" }));
  assert.deepEqual(watches(chain), { "/srv": { app: "link" } });
  assert.equal(chain.target, null);
});

Deno.test("resolveChain() stops after MAX_SYMLINK_HOPS on a symlink loop", async () => {
  let lookups = 0;
  const loop = fakeFs({ "/a/x": "-> y", "/a/y": "-> x" });
  const chain = await resolveChain("/a/x", (path) => {
    lookups++;
    return loop(path);
  });
  assert.deepEqual(watches(chain), { "/a": { x: "link", y: "link" } });
  assert.equal(chain.target, null);
  assert.ok(lookups <= MAX_SYMLINK_HOPS * 2 + 4, `${lookups} lookups`);
});

Deno.test("resolveChain() rejects a relative path", async () => {
  await assert.rejects(() => resolveChain("app/VERSION", fakeFs({})), {
    name: "TypeError",
    message: 'Cannot resolve the symlink chain of "app/VERSION": not an absolute path',
  });
});

Deno.test("resolveChain() gives a new key when a symlink is swapped or a directory replaced", async () => {
  const before = await resolveChain(
    "/srv/app/current/VERSION",
    fakeFs({ "/srv/app/current": "-> releases/1", "/srv/app/releases/1/VERSION": "v1" }),
  );
  const same = await resolveChain(
    "/srv/app/current/VERSION",
    fakeFs({ "/srv/app/current": "-> releases/1", "/srv/app/releases/1/VERSION": "v1" }),
  );
  const swapped = await resolveChain(
    "/srv/app/current/VERSION",
    fakeFs({ "/srv/app/current": "-> releases/2", "/srv/app/releases/2/VERSION": "v2" }),
  );
  const replaced = await resolveChain(
    "/srv/app/current/VERSION",
    fakeFs({
      "/srv/app/current": "-> releases/1",
      "/srv/app/releases/1": "dir/#2",
      "/srv/app/releases/1/VERSION": "v1",
    }),
  );
  assert.equal(same.key, before.key);
  assert.notEqual(swapped.key, before.key);
  assert.notEqual(replaced.key, before.key);
  assert.equal(replaced.directories.get("/srv/app/releases/1")?.id, "0:/srv/app/releases/1#2");
});

Deno.test("roleOf() keeps only events on the chain's names", async () => {
  const chain = await resolveChain(
    "/etc/cfg/VERSION",
    fakeFs({
      "/etc/cfg/VERSION": "-> ..data/VERSION",
      "/etc/cfg/..data": "-> ..ts1",
      "/etc/cfg/..ts1/VERSION": "v1",
    }),
  );
  assert.equal(roleOf(chain, "/etc/cfg", "/etc/cfg/..data"), "link");
  assert.equal(roleOf(chain, "/etc/cfg", "/etc/cfg/VERSION"), "link");
  assert.equal(roleOf(chain, "/etc/cfg/..ts1", "/etc/cfg/..ts1/VERSION"), "file");
  assert.equal(roleOf(chain, "/etc/cfg/..ts1", "/etc/cfg/..ts1"), "self");
  assert.equal(roleOf(chain, "/etc/cfg", "/etc/cfg/..data_tmp"), null);
  assert.equal(roleOf(chain, "/etc/cfg", "/etc/cfg/..ts1/VERSION"), null);
  assert.equal(roleOf(chain, "/elsewhere", "/elsewhere/VERSION"), null);
});

Deno.test("roleOf() handles names directly under /", async () => {
  const chain = await resolveChain("/VERSION", fakeFs({ "/VERSION": "v1" }));
  assert.deepEqual(watches(chain), { "/": { VERSION: "file" } });
  assert.equal(roleOf(chain, "/", "/VERSION"), "file");
  assert.equal(roleOf(chain, "/", "/etc"), null);
});

Deno.test("eventHints() turns Deno events on chain names into hints, ignoring the rest", async () => {
  const chain = await resolveChain("/app/VERSION", fakeFs({ "/app/VERSION": "v1" }));
  const hints = (kind: string, paths: string[], lastRenamedTo: string | null = null) =>
    eventHints(chain, "/app", { kind, paths }, lastRenamedTo);
  // in-place write: modify (more may come), then the close after writing (the writer is done)
  assert.deepEqual(hints("modify", ["/app/VERSION"]), ["writing"]);
  assert.deepEqual(hints("access", ["/app/VERSION"]), ["closed"]);
  // write temp + rename over: remove [tmp], rename [VERSION], rename [tmp, VERSION] (an echo)
  assert.deepEqual(hints("remove", ["/app/.VERSION.tmp"]), []);
  assert.deepEqual(hints("rename", ["/app/VERSION"]), ["landed"]);
  assert.deepEqual(hints("rename", ["/app/.VERSION.tmp", "/app/VERSION"], "/app/VERSION"), []);
  // a two-path rename on its own still lands (and renaming VERSION away removes it)
  assert.deepEqual(hints("rename", ["/app/.VERSION.tmp", "/app/VERSION"]), ["landed"]);
  assert.deepEqual(hints("rename", ["/app/VERSION", "/app/VERSION.old"]), ["removed"]);
  // the watched directory itself moved or deleted
  assert.deepEqual(hints("remove", ["/app"]), ["removed"]);
  assert.deepEqual(hints("create", ["/app/other"]), []);
});

Deno.test("absolutePath() joins a relative path to the directory and leaves an absolute one", () => {
  assert.equal(absolutePath("VERSION", "/srv/app"), "/srv/app/VERSION");
  assert.equal(absolutePath("../shared/VERSION", "/srv/app/"), "/srv/app/../shared/VERSION");
  assert.equal(absolutePath("VERSION", "/"), "/VERSION");
  assert.equal(absolutePath("/etc/VERSION", "/srv"), "/etc/VERSION");
});
