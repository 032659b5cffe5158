/**
 * `deno task install [--prefix DIR] [--socket PATH]... [--net HOST]...`
 *
 * Installs releasemon from source for any user and for hosts without network at start:
 * - bundles main.ts into `PREFIX/lib/releasemon/` (`scripts/bundle.ts`: plain JavaScript, no
 *   config or import map needed at start, 4-5 MiB less idle memory than `deno run main.ts`);
 * - caches the one npm dependency left, the Redis client of `--fleet`, in
 *   `PREFIX/lib/releasemon/deno_dir`, readable by everyone: copied from this user's Deno cache
 *   when it is there (no network needed), else downloaded by `deno cache`, checked against
 *   deno.lock;
 * - runs it once (`--version`), so that Deno's caches for the bundle are written now, by this
 *   user: a service user who cannot write them would idle about 9 MiB larger (54 against 45 MiB);
 * - writes the wrapper `PREFIX/bin/releasemon`, which runs `deno run --no-config --cached-only`
 *   with exactly the compiled binary's permissions (`scripts/permissions.ts`) and `NO_COLOR=1`.
 *
 * So `command=releasemon ...` works the same with the binary or with the wrapper, and a start
 * never downloads anything. Default prefix: /usr/local. Re-run it after an upgrade.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { bundleMain } from "./bundle.ts";
import { DEFAULT_NET_HOSTS, DEFAULT_SOCKETS, permissionFlags } from "./permissions.ts";

/** Written into the library directory: only a directory holding it is replaced by a re-install. */
const MARKER = ".releasemon-install";
const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    prefix: { type: "string", default: "/usr/local" },
    socket: { type: "string", multiple: true },
    net: { type: "string", multiple: true },
  },
});

const write = (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text + "\n"));

function fail(message: string): never {
  write(`install failed: ${message}`);
  Deno.exit(1);
}

/** Shell-quotes one word for the wrapper. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function copyTree(from: string, to: string): Promise<void> {
  const info = await Deno.lstat(from);
  if (info.isDirectory) {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  } else if (info.isFile) {
    await Deno.copyFile(from, to);
  }
}

/** Makes everything under `path` readable (and directories searchable) by everyone. */
async function openUp(path: string): Promise<void> {
  const info = await Deno.lstat(path);
  if (info.isSymlink) return;
  const mode = (info.mode ?? 0) & 0o7777;
  await Deno.chmod(path, info.isDirectory || (mode & 0o100) ? mode | 0o755 : mode | 0o644);
  if (info.isDirectory) {
    for await (const entry of Deno.readDir(path)) await openUp(`${path}/${entry.name}`);
  }
}

async function deno(args: string[], env: Record<string, string> = {}): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    fail(`deno ${args.join(" ")}:\n${new TextDecoder().decode(output.stderr)}`);
  }
  return text;
}

/** Copies the locked npm packages found in this user's Deno cache into `denoDir`. */
async function seedNpmCache(denoDir: string): Promise<number> {
  const info = JSON.parse(await deno(["info", "--json"])) as { npmCache?: string };
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.lock`)) as {
    npm?: Record<string, unknown>;
  };
  if (!info.npmCache) return 0;
  let copied = 0;
  for (const key of Object.keys(lock.npm ?? {})) {
    const at = key.lastIndexOf("@");
    const [name, version] = [key.slice(0, at), key.slice(at + 1).replace(/_.*$/, "")];
    const from = `${info.npmCache}/registry.npmjs.org/${name}`;
    const to = `${denoDir}/npm/registry.npmjs.org/${name}`;
    if (!(await exists(`${from}/${version}`)) || !(await exists(`${from}/registry.json`))) continue;
    await copyTree(`${from}/${version}`, `${to}/${version}`);
    await Deno.copyFile(`${from}/registry.json`, `${to}/registry.json`);
    copied++;
  }
  return copied;
}

const prefix = values.prefix.replace(/\/+$/, "") || "/";
const libDir = `${prefix}/lib/releasemon`;
const binDir = `${prefix}/bin`;
const denoDir = `${libDir}/deno_dir`;

if (await exists(libDir) && !(await exists(`${libDir}/${MARKER}`))) {
  fail(`${libDir} exists and was not made by this installer; move it away first`);
}
await Deno.remove(libDir, { recursive: true }).catch(() => {});
await Deno.mkdir(libDir, { recursive: true });
const bundled = await bundleMain(libDir).catch((error: Error) => fail(error.message));
write(`bundled main.ts into ${libDir}: ${bundled.join(", ")}`);
await Deno.writeTextFile(`${libDir}/${MARKER}`, "installed by deno task install\n");

const seeded = await seedNpmCache(denoDir);
write(`copied ${seeded} package(s) from this user's Deno cache`);
// Every module, the fleet chunk's npm import included, checked against the project's lock.
await deno(
  ["cache", "--no-config", "--frozen", "--lock", `${ROOT}/deno.lock`, `${libDir}/main.js`],
  { DENO_DIR: denoDir },
);

const flags = permissionFlags({
  sockets: values.socket ?? DEFAULT_SOCKETS,
  netHosts: values.net ?? DEFAULT_NET_HOSTS,
});
const commandArgs = [
  Deno.execPath(),
  "run",
  "--no-config",
  "--cached-only",
  ...flags,
  `${libDir}/main.js`,
];
const command = commandArgs.map(shellQuote).join(" ");
const wrapper = `#!/bin/sh
# releasemon, installed from source by \`deno task install\` (scripts/install.ts). Runs the
# bundle ${libDir}/main.js with its caches in ${denoDir} (nothing is downloaded at start)
# and the same permissions as the compiled binary. Re-run the installer to change them.
export DENO_DIR=${shellQuote(denoDir)}
export DENO_NO_UPDATE_CHECK=1
export NO_COLOR=1
exec ${command} "$@"
`;
await Deno.mkdir(binDir, { recursive: true });
const wrapperPath = `${binDir}/releasemon`;
await Deno.writeTextFile(`${wrapperPath}.tmp`, wrapper, { mode: 0o755 });
await Deno.chmod(`${wrapperPath}.tmp`, 0o755);
await Deno.rename(`${wrapperPath}.tmp`, wrapperPath);

// The first start writes Deno's caches for the bundle, as this user, so that everyone can read
// them after openUp (measured: a start that must build them and cannot write them idles 9 MiB
// larger, for as long as it runs).
const check = await new Deno.Command(wrapperPath, { args: ["--version"], stdout: "piped" })
  .output();
const version = new TextDecoder().decode(check.stdout).trim();
if (!check.success) fail(`${wrapperPath} --version did not work`);
await openUp(libDir);

const denoMode = (await Deno.stat(Deno.execPath())).mode ?? 0;
if ((denoMode & 0o001) === 0) {
  write(`warning: ${Deno.execPath()} is not executable by other users; the service user needs it`);
}
write(`installed ${wrapperPath} (${version}), library in ${libDir}`);
