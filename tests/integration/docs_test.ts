// The documentation against the code: docs/flags.md lists exactly the options of `--help`, the
// README's `deno run` command carries exactly the permissions of scripts/permissions.ts, every
// long option the docs mention exists, and every relative link points to a file and heading that
// exist. Reads the files, so it lives here (unit tests run with no permissions).
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config.ts";
import { permissionFlags } from "../../scripts/permissions.ts";

const ROOT = new URL("../../", import.meta.url);

/**
 * Flags of other tools the docs quote (deno, V8, `deno task compile`/`install`/`bench`, rsync, artisan), and
 * the refused -p.
 */
const NOT_RELEASEMON = new Set([
  "--frozen",
  "--config",
  "--no-config",
  "--no-prompt",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  "--v8-flags",
  "--optimize-for-size",
  "--lite-mode",
  "--jitless",
  "--single-threaded",
  "--max-semi-space-size",
  "--memory-reducer-delay-ms",
  "--initial-old-space-size",
  "--expose-gc",
  "--platform",
  "--code-splitting",
  "--quick",
  "--only",
  "--sizes",
  "--socket",
  "--net",
  "--target",
  "--output",
  "--prefix",
  "--cached-only",
  "--inplace",
  "--sleep",
  "--tries",
  "--max-time",
  "--password",
]);

async function read(relative: string): Promise<string> {
  return await Deno.readTextFile(new URL(relative, ROOT));
}

/** README.md, CONTRIBUTING.md and docs/*.md, as paths relative to the repository root. */
async function markdownFiles(): Promise<string[]> {
  const files = ["README.md", "CONTRIBUTING.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) files.push(`docs/${entry.name}`);
  }
  return files.sort();
}

/** Option strings and positionals of `--help`: "-g", "--group", "PATH", ... */
function helpNames(): Set<string> {
  const result = parseConfig(["--help"], {}, { color: false });
  assert.equal(result.kind, "help");
  const names = new Set<string>();
  for (const line of (result as { text: string }).text.split("\n")) {
    // "  -e, --enable FLAG     act only if ..." or "  -rd, --random-delay SECONDS" (help below)
    const option = /^ {2}(-\S.*?)(?: {2,}|$)/.exec(line);
    if (option) { for (const part of option[1]!.split(", ")) names.add(part.split(" ")[0]!); }
    const positional = /^ {2}([A-Z]+) {2,}\S/.exec(line);
    if (positional) names.add(positional[1]!);
  }
  return names;
}

/** The names of docs/flags.md's entries, lines like "- `-g, --group GROUP`: ..." */
function documentedNames(flagsMd: string): Set<string> {
  const names = new Set<string>();
  for (const match of flagsMd.matchAll(/^- `([^`]+)`/gm)) {
    for (const part of match[1]!.split(", ")) names.add(part.split(" ")[0]!);
  }
  return names;
}

/** Text with fenced code blocks blanked (their lines kept, so nothing else moves). */
function withoutCodeBlocks(markdown: string): string {
  let fenced = false;
  return markdown.split("\n").map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line;
  }).join("\n");
}

/** GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces to "-". */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of withoutCodeBlocks(markdown).matchAll(/^#{1,6} +(.+?) *$/gm)) {
    const slug = match[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

/** Relative link targets outside code: "docs/flags.md", "hooks.md#environment", "#signals". */
function relativeLinks(markdown: string): string[] {
  const text = withoutCodeBlocks(markdown).replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!)
    .filter((target) => !/^[a-z][a-z+.-]*:/i.test(target));
}

/** The tokens of the fenced block that starts with `deno run`. */
function denoRunTokens(markdown: string, file: string): string[] {
  const block = /```sh\n(deno run [^`]*)```/.exec(markdown);
  assert.ok(block, `${file} has no \`deno run\` block`);
  return block[1]!.split(/\s+/).filter((token) => token !== "" && token !== "\\");
}

Deno.test("docs/flags.md documents every option and positional of --help", async () => {
  const help = helpNames();
  assert.ok(help.has("--help") && help.has("--fleet") && help.has("PATH"), [...help].join(" "));
  const documented = documentedNames(await read("docs/flags.md"));
  const missing = [...help].filter((name) => !documented.has(name));
  assert.deepEqual(missing, [], `in --help but not in docs/flags.md: ${missing.join(" ")}`);
});

Deno.test("docs/flags.md documents only options that --help has", async () => {
  const help = helpNames();
  const documented = documentedNames(await read("docs/flags.md"));
  assert.ok(documented.size > 20, `only ${documented.size} entries found in docs/flags.md`);
  const unknown = [...documented].filter((name) => !help.has(name));
  assert.deepEqual(unknown, [], `in docs/flags.md but not in --help: ${unknown.join(" ")}`);
});

Deno.test("README.md and docs/ mention only long options that exist", async () => {
  const help = helpNames();
  const unknown: string[] = [];
  for (const file of await markdownFiles()) {
    if (file === "CONTRIBUTING.md") continue; // deno test's flags, not releasemon's
    for (const match of (await read(file)).matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) {
      const option = match[0];
      if (!help.has(option) && !NOT_RELEASEMON.has(option)) unknown.push(`${file}: ${option}`);
    }
  }
  // Another tool's flag quoted in the docs belongs in NOT_RELEASEMON.
  assert.deepEqual(unknown, [], "options not in --help");
});

Deno.test("the `deno run` commands in README.md and docs/install.md have the binary's permissions", async () => {
  const expected = permissionFlags();
  for (const file of ["README.md", "docs/install.md"]) {
    const tokens = denoRunTokens(await read(file), file);
    for (const flag of expected) assert.ok(tokens.includes(flag), `${file} lacks ${flag}`);
    const granted = tokens.filter((token) => /^--(allow-|v8-flags|no-prompt)/.test(token));
    for (const flag of granted) {
      assert.ok(expected.includes(flag), `${file} has ${flag}, not in scripts/permissions.ts`);
    }
  }
});

Deno.test("every relative link in README.md, CONTRIBUTING.md and docs/ reaches its file and heading", async () => {
  const broken: string[] = [];
  for (const file of await markdownFiles()) {
    const text = await read(file);
    for (const link of relativeLinks(text)) {
      const [path = "", anchor] = link.split("#", 2);
      const target = path === "" ? file : new URL(path, new URL(file, ROOT)).pathname
        .slice(new URL(ROOT).pathname.length);
      let targetText: string;
      try {
        targetText = target === file ? text : await read(target);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.IsADirectory)) {
          throw error;
        }
        if (error instanceof Deno.errors.IsADirectory && anchor === undefined) continue;
        broken.push(`${file}: ${link} (no file ${target})`);
        continue;
      }
      if (anchor !== undefined && target.endsWith(".md") && !anchors(targetText).has(anchor)) {
        broken.push(`${file}: ${link} (no heading #${anchor} in ${target})`);
      }
    }
  }
  assert.deepEqual(broken, [], "broken links");
});

Deno.test("README.md stays under 15 KB", async () => {
  const size = (await Deno.stat(new URL("README.md", ROOT))).size;
  assert.ok(size < 15_000, `README.md is ${size} bytes; move reference into docs/`);
});
