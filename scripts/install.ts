/**
 * `deno task install [--prefix DIR] [--socket PATH]... [--net HOST]...`
 *
 * Installs releasemon from source for any user and for hosts without network at start:
 * - copies `main.ts`, `lib/`, `deno.json` and `deno.lock` to `PREFIX/lib/releasemon/`;
 * - caches every dependency (the Redis client too) in `PREFIX/lib/releasemon/deno_dir`, readable
 *   by everyone: packages already in this user's Deno cache are copied (no network needed),
 *   the rest is downloaded by `deno cache --frozen`;
 * - writes the wrapper `PREFIX/bin/releasemon`, which runs `deno run --frozen --cached-only`
 *   with exactly the compiled binary's permissions (`scripts/permissions.ts`) and `NO_COLOR=1`.
 *
 * So `command=releasemon ...` works the same with the binary or with the wrapper, and a start
 * never downloads anything. Default prefix: /usr/local. Re-run it after an upgrade.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_NET_HOSTS, DEFAULT_SOCKETS, permissionFlags } from "./permissions.ts";

/** Written into the library directory: only a directory holding it is replaced by a re-install. */
const MARKER = ".releasemon-install";
const SOURCES = ["main.ts", "lib", "deno.json", "deno.lock"];
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
await Deno.writeTextFile(`${libDir}/${MARKER}`, "installed by deno task install\n");
for (const source of SOURCES) await copyTree(`${ROOT}/${source}`, `${libDir}/${source}`);

const seeded = await seedNpmCache(denoDir);
write(`copied ${seeded} package(s) from this user's Deno cache`);
// Every module, the ones main.ts loads only with --fleet included.
await deno(
  [
    "cache",
    "--frozen",
    "--config",
    `${libDir}/deno.json`,
    `${libDir}/main.ts`,
    `${libDir}/lib/fleet/setup.ts`,
  ],
  { DENO_DIR: denoDir },
);
await openUp(libDir);

const flags = permissionFlags({
  sockets: values.socket ?? DEFAULT_SOCKETS,
  netHosts: values.net ?? DEFAULT_NET_HOSTS,
});
const command = [
  Deno.execPath(),
  "run",
  "--frozen",
  "--cached-only",
  "--config",
  `${libDir}/deno.json`,
  ...flags,
  `${libDir}/main.ts`,
].map(shellQuote).join(" ");
const wrapper = `#!/bin/sh
# releasemon, installed from source by \`deno task install\` (scripts/install.ts). Runs
# ${libDir}/main.ts with every dependency cached in ${denoDir} (nothing is downloaded at start)
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

const denoMode = (await Deno.stat(Deno.execPath())).mode ?? 0;
if ((denoMode & 0o001) === 0) {
  write(`warning: ${Deno.execPath()} is not executable by other users; the service user needs it`);
}
const check = await new Deno.Command(wrapperPath, { args: ["--version"], stdout: "piped" })
  .output();
const version = new TextDecoder().decode(check.stdout).trim();
if (!check.success) fail(`${wrapperPath} --version did not work`);
write(`installed ${wrapperPath} (${version}), library in ${libDir}`);
