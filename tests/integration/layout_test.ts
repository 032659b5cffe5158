// The module graph of lib/ against the rules in CONTRIBUTING.md: every module is used by the
// program (main.ts) or a script, not only by tests; the executor does not depend on the state
// machine; a `_`-prefixed module is private to its folder. Reads the files, so it lives here (unit
// tests run with no permissions).
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
/** Relative imports: `from "./x.ts"`, `import "./x.ts"`, `import("./x.ts")`. */
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;

async function tsFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await tsFiles(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** Repository-relative path of `specifier` as imported from `from`. */
function resolve(from: string, specifier: string): string {
  const url = new URL(specifier, new URL(from, ROOT));
  return decodeURIComponent(url.pathname.slice(ROOT.pathname.length));
}

/** Each production file (main.ts, lib/, scripts/) with the files it imports. */
async function importGraph(): Promise<Map<string, string[]>> {
  const files = ["main.ts", ...await tsFiles("lib"), ...await tsFiles("scripts")];
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    graph.set(file, Array.from(text.matchAll(IMPORT), (match) => resolve(file, match[1]!)));
  }
  return graph;
}

function reachable(graph: Map<string, string[]>, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...graph.get(file) ?? []);
  }
  return seen;
}

const dirOf = (path: string) => path.slice(0, path.lastIndexOf("/"));
const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

Deno.test("every module in lib/ is used by main.ts or a script, not only by tests", async () => {
  const graph = await importGraph();
  const used = reachable(graph, ["main.ts", ...await tsFiles("scripts")]);
  const unused = [...graph.keys()].filter((file) => file.startsWith("lib/") && !used.has(file));
  assert.deepEqual(unused, [], "move test-only code to tests/support/, delete dead code");
});

Deno.test("the executor (rollout, restart, config update) does not depend on the state machine", async () => {
  const graph = await importGraph();
  const executor = ["lib/rollout.ts", "lib/restart.ts", "lib/config_update.ts"];
  const machine = [...reachable(graph, executor)].filter((file) =>
    file === "lib/machine.ts" || nameOf(file).startsWith("_machine")
  );
  assert.deepEqual(machine, [], "shared types belong in lib/restart_report.ts");
});

Deno.test("a _-prefixed module in lib/ is imported only from its own folder", async () => {
  const graph = await importGraph();
  const leaks = [...graph].flatMap(([file, imports]) =>
    imports.filter((target) =>
      target.startsWith("lib/") && nameOf(target).startsWith("_") && dirOf(target) !== dirOf(file)
    ).map((target) => `${file} → ${target}`)
  );
  assert.deepEqual(leaks, []);
});
