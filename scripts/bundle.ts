/**
 * `deno task bundle [--outdir DIR]`: main.ts and everything it imports as plain JavaScript in one
 * directory: `main.js`, a shared chunk, and the `--fleet` code in a chunk of its own, loaded only
 * with `--fleet`. What `deno task install` installs. Offline: `deno bundle` needs no network.
 *
 * Why: a bundle starts without a config, an import map or TypeScript to transpile, and idles
 * 4-5 MiB smaller than `deno run main.ts` (docs/performance.md). The Redis client stays an npm
 * import of the fleet chunk (`npm:@redis/client@<the version in deno.json>`), resolved from the
 * Deno cache when `--fleet` is used: bundled, its CommonJS would make the bundler put
 * `node:module` into the shared chunk, which loads Deno's Node layer (7-12 MiB) at every start.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** The Redis client's bare name in deno.json's import map, as lib/fleet/ imports it. */
const REDIS_IMPORT = "@redis/client";

/** Rewrites the fleet chunk's bare Redis import to the npm specifier deno.json maps it to. */
async function _pinRedisImport(outdir: string, files: string[]): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const target: unknown = config.imports?.[REDIS_IMPORT];
  if (typeof target !== "string" || !target.startsWith("npm:")) {
    throw new Error(`Cannot bundle main.ts: deno.json maps no npm package to "${REDIS_IMPORT}"`);
  }
  let found = 0;
  for (const name of files) {
    const text = await Deno.readTextFile(`${outdir}/${name}`);
    const pinned = text.replaceAll(`from "${REDIS_IMPORT}"`, `from "${target}"`);
    if (pinned === text) continue;
    found++;
    await Deno.writeTextFile(`${outdir}/${name}`, pinned);
  }
  if (found !== 1) {
    throw new Error(
      `Cannot bundle main.ts: expected the Redis client imported by one chunk, found ${found}`,
    );
  }
  for (const name of files) {
    if ((await Deno.readTextFile(`${outdir}/${name}`)).includes(`"node:module"`)) {
      throw new Error(`Cannot bundle main.ts: ${name} imports node:module (CommonJS bundled in)`);
    }
  }
}

/** Bundles main.ts into `outdir`, which must not exist yet or be empty. */
export async function bundleMain(outdir: string): Promise<string[]> {
  const present = await Array.fromAsync(Deno.readDir(outdir)).catch(() => []);
  if (present.length > 0) {
    throw new Error(`Cannot bundle main.ts into ${outdir}: it is not empty; remove it first`);
  }
  const args = [
    "bundle",
    "--frozen",
    "--platform",
    "deno",
    "--code-splitting",
    "--external",
    REDIS_IMPORT,
    "--outdir",
    outdir,
    `${ROOT}/main.ts`,
  ];
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr);
    throw new Error(`Cannot bundle main.ts: deno ${args.join(" ")} failed:\n${stderr}`);
  }
  const files: string[] = [];
  for await (const entry of Deno.readDir(outdir)) {
    if (entry.isFile && entry.name.endsWith(".js")) files.push(entry.name);
  }
  if (!files.includes("main.js")) {
    throw new Error(`Cannot bundle main.ts: deno bundle wrote no main.js into ${outdir}`);
  }
  await _pinRedisImport(outdir, files);
  return files.sort();
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--outdir");
  const outdir = at >= 0 ? Deno.args[at + 1] : `${ROOT}/dist/bundle`;
  if (!outdir || Deno.args.length !== (at >= 0 ? 2 : 0)) {
    Deno.stderr.writeSync(new TextEncoder().encode("usage: deno task bundle [--outdir DIR]\n"));
    Deno.exit(2);
  }
  if (at < 0) await Deno.remove(outdir, { recursive: true }).catch(() => {});
  const files = await bundleMain(outdir);
  Deno.stderr.writeSync(new TextEncoder().encode(`bundled into ${outdir}: ${files.join(", ")}\n`));
}
