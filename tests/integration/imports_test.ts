// What releasemon loads at start-up: the static import graph from main.ts, as Deno resolves it
// (`deno info --json`), must not reach a forbidden package or module. Loading any `node:` module
// costs 7-12 MiB of idle memory for Deno's Node compatibility layer, and npm packages load them
// (issue 16). The dynamic `import("./lib/fleet/setup.ts")` (only with --fleet) is not followed.
// Runs `deno info`, so it lives here (unit tests run with no permissions).
import assert from "node:assert/strict";

/**
 * Forbidden at start-up: an npm package or bare specifier by name ("argparse", "@logtape/logtape"),
 * a `node:` module by name ("node:crypto"), or every `node:` module ("node:"). Extend this list as
 * each dependency is removed.
 */
const FORBIDDEN_AT_STARTUP: readonly string[] = ["argparse", "@logtape/logtape", "node:"];

const ROOT = new URL("../../", import.meta.url);

interface _Dependency {
  specifier: string;
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface _Module {
  specifier: string;
  kind: string;
  dependencies?: _Dependency[];
}

/** `deno info --json` of `entry` (a path from the repository root): every module by specifier. */
async function moduleGraph(entry: string): Promise<Map<string, _Module>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--frozen", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: _Module[] };
  return new Map(info.modules.map((module) => [module.specifier, module]));
}

/** "argparse" for "npm:argparse@3.0.4" or "npm:/argparse@3.0.4/x", "node:fs" stays. */
function _packageOf(resolved: string): string {
  const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(resolved);
  return npm ? npm[1]! : resolved;
}

function _forbidden(dependency: _Dependency, forbidden: readonly string[]): string | undefined {
  const names = [dependency.specifier, _packageOf(dependency.code?.specifier ?? "")];
  return forbidden.find((entry) =>
    names.some((name) =>
      entry.endsWith(":") ? name.startsWith(entry) : name === entry || name.startsWith(`${entry}/`)
    )
  );
}

/** "<importer> imports <specifier>" for every forbidden static import reachable from `entry`. */
async function forbiddenImports(entry: string, forbidden: readonly string[]): Promise<{
  visited: Set<string>;
  found: string[];
}> {
  const graph = await moduleGraph(entry);
  const root = new URL(entry, ROOT).href;
  const visited = new Set<string>();
  const found: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const specifier = stack.pop()!;
    if (visited.has(specifier)) continue;
    visited.add(specifier);
    for (const dependency of graph.get(specifier)?.dependencies ?? []) {
      if (!dependency.code || dependency.isDynamic) continue; // type-only or lazy
      const entryHit = _forbidden(dependency, forbidden);
      const importer = specifier.slice(ROOT.href.length);
      if (entryHit) found.push(`${importer} imports ${dependency.specifier} (${entryHit})`);
      stack.push(dependency.code.specifier);
    }
  }
  return { visited, found };
}

Deno.test("main.ts reaches no forbidden package or module through static imports", async () => {
  const { visited, found } = await forbiddenImports("main.ts", FORBIDDEN_AT_STARTUP);
  assert.deepEqual(found, []);
  // The walk went through the command line and stopped at the lazy fleet set-up.
  assert.ok(visited.has(new URL("lib/_argv.ts", ROOT).href));
  assert.ok(!visited.has(new URL("lib/fleet/setup.ts", ROOT).href));
});

Deno.test("the import check finds argparse in the test-only reference and node: modules by prefix", async () => {
  const { found } = await forbiddenImports(
    "tests/support/argparse_reference.ts",
    FORBIDDEN_AT_STARTUP,
  );
  assert.deepEqual(found, [
    "tests/support/argparse_reference.ts imports argparse (argparse)",
    "tests/support/argparse_reference.ts imports argparse/lib/textwrap.js (argparse)",
  ]);
  // A prefix entry catches every `node:` module: this file imports node:assert/strict.
  const nodeModules = await forbiddenImports("tests/integration/imports_test.ts", ["node:"]);
  assert.deepEqual(nodeModules.found, [
    "tests/integration/imports_test.ts imports node:assert/strict (node:)",
  ]);
});
