/**
 * `deno task demo`: releasemon at work, narrated on stdout, in about ten seconds.
 *
 * A throwaway supervisord in a temp dir runs a sample app (a `web` program and a `workers` group
 * of two) plus releasemon as a `[program]`, configured the way a user would. The demo deploys a
 * new version twice (write a temp file and rename it; then a Capistrano-style `current` symlink
 * swap), shows releasemon's log and `supervisorctl status` each time, and always shuts everything
 * down and removes the temp dir, on success, error and Ctrl-C alike.
 *
 * @module
 */
import {
  deploy,
  pids,
  readLog,
  releasemonProgram,
  startSupervisordWith,
  waitForLog,
} from "../tests/support/releasemon.ts";
import { type ProgramSpec, type Supervisord, waitFor } from "../tests/support/supervisord.ts";

const color = Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined;
const paint = (code: string) => (text: string) => color ? `\x1b[${code}m${text}\x1b[0m` : text;
const bold = paint("1");
const dim = paint("2");
const green = paint("32");
const encoder = new TextEncoder();
/** Set on Ctrl-C: the narration stops, only the shutdown message is written. */
let silenced = false;

/** Writes a line to stdout (no console.* here: the lint forbids it). */
function say(text = ""): void {
  if (!silenced) write(text);
}

function write(text: string): void {
  let bytes = encoder.encode(`${text}\n`);
  while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

function step(title: string): void {
  say();
  say(bold(`== ${title}`));
}

function indent(text: string): string {
  return text.trimEnd().split("\n").map((line) => `    ${line}`).join("\n");
}

/** A sample program: reads the deployed version once at start, then prints it every second. */
function appProgram(name: string, dir: string, versionPath: string): ProgramSpec {
  const script = `v=$(cat ${versionPath}); ` +
    `while :; do echo "${name} (pid $$) serving $v"; sleep 1; done`;
  return {
    name,
    command: `sh -c '${script}'`,
    options: { stdout_logfile: `${dir}/${name}.log` },
  };
}

/** The last line a program printed, once it mentions `version`. */
async function lastLineWith(sv: Supervisord, name: string, version: string): Promise<string> {
  return await waitFor(`${name} to print ${version}`, async () => {
    const text = await Deno.readTextFile(`${sv.dir}/${name}.log`).catch(() => "");
    const last = text.trimEnd().split("\n").at(-1) ?? "";
    return last.endsWith(` ${version}`) ? last : undefined;
  }, 10_000);
}

/** releasemon's log lines written after `offset`, without the date part of the timestamp. */
async function logSince(sv: Supervisord, offset: number): Promise<string> {
  const text = (await readLog(sv)).slice(offset);
  return text.trimEnd().split("\n").map((line) => line.replace(/^\d{4}-\d\d-\d\dT/, "")).join(
    "\n",
  );
}

async function showStatus(sv: Supervisord): Promise<void> {
  say(dim("$ supervisorctl status"));
  say(indent(await sv.ctl("status")));
}

function showPidChanges(before: Record<string, number>, after: Record<string, number>): void {
  for (const [namespec, pid] of Object.entries(after)) {
    const old = before[namespec];
    const what = old === pid
      ? namespec.startsWith("releasemon:")
        ? "unchanged: releasemon restarts its targets, never itself"
        : "unchanged"
      : green("restarted");
    say(
      `    ${namespec.padEnd(24)} pid ${String(old).padStart(7)} -> ${
        String(pid).padEnd(7)
      } ${what}`,
    );
  }
}

/** Deploys with `action`, waits for releasemon to apply `version`, and shows what happened. */
async function deployAndShow(
  sv: Supervisord,
  version: string,
  action: () => Promise<void>,
): Promise<void> {
  const before = await pids(sv);
  const offset = (await readLog(sv)).length;
  const started = performance.now();
  await action();
  await waitForLog(sv, new RegExp(`Version "${version}" applied`), 20_000);
  const appliedMs = Math.round(performance.now() - started);
  await waitForLog(sv, new RegExp(`post-restart: .* now on ${version}$`, "m"), 10_000);
  say(`releasemon applied ${version} ${appliedMs} ms after the deploy. Its log since the deploy:`);
  say(indent(await logSince(sv, offset)));
  say();
  await showStatus(sv);
  say();
  say("Pids before and after:");
  showPidChanges(before, await pids(sv));
  say();
  say("What each program prints now:");
  for (const name of ["web", "w1", "w2"]) say(`    ${await lastLineWith(sv, name, version)}`);
}

async function demo(setSupervisord: (sv: Supervisord) => void): Promise<void> {
  for (const tool of ["supervisord", "supervisorctl"]) {
    try {
      await new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Error(
        `Cannot run "${tool}": not installed; run ./scripts/demo.sh, which installs supervisor`,
      );
    }
  }

  step("1. A throwaway supervisord with a sample app and releasemon");
  const postHook = 'echo "$RELEASEMON_OUTCOME: restarted $RELEASEMON_RESTARTED;' +
    ' now on $RELEASEMON_VERSION"';
  const versionPathIn = (dir: string) => `${dir}/app/current/VERSION`;
  const argsFor = (dir: string) => [
    "--settle",
    "0.1",
    "-post",
    postHook,
    "-g",
    "workers",
    versionPathIn(dir),
    "web",
  ];
  const sv = await startSupervisordWith({
    groups: { workers: ["w1", "w2"] },
    deferStart: true,
  }, (fresh) => [
    appProgram("web", fresh.dir, versionPathIn(fresh.dir)),
    appProgram("w1", fresh.dir, versionPathIn(fresh.dir)),
    appProgram("w2", fresh.dir, versionPathIn(fresh.dir)),
    releasemonProgram(fresh, argsFor(fresh.dir)),
  ]);
  setSupervisord(sv);
  const root = `${sv.dir}/app`;
  const versionPath = versionPathIn(sv.dir);
  await deploy.symlinkSwap(root, "v1", "v1\n");
  say(`Temp dir: ${sv.dir}`);
  say(`The app is deployed Capistrano-style: ${root}/current -> releases/v1`);
  say("Programs: web, and a group workers (w1, w2): shell loops printing the version they read.");
  say("releasemon runs as one more [program], configured as you would with the binary:");
  say(dim("    [program:releasemon]"));
  say(dim(`    command=releasemon --settle 0.1 -post '${postHook}' \\`));
  say(dim(`        -g workers ${versionPath} web`));
  say(dim("(here it runs from source: deno run <the binary's permissions> main.ts ...)"));
  await sv.start();
  await waitFor("every program RUNNING", async () => {
    const infos = await sv.client().getAllProcessInfo();
    return infos.length === 4 && infos.every((i) => i.state === "RUNNING") ? true : undefined;
  });
  await waitForLog(sv, /restarting .* on a new version/, 20_000);
  say();
  say("Start-up log (v1 is the baseline, and the programs already run it: nothing restarts):");
  say(indent(await logSince(sv, 0)));
  say();
  await showStatus(sv);

  step("2. Deploy v2 the way deploy tools do: write a temp file, rename it over VERSION");
  say(dim(`$ cd ${root}/current`));
  say(dim("$ printf 'v2\\n' > .VERSION.tmp && mv .VERSION.tmp VERSION"));
  await deployAndShow(sv, "v2", () => deploy.atomic(versionPath, "v2\n"));

  step("3. Deploy v3 Capistrano-style: a new release directory, then swap the current symlink");
  say(dim(`$ cd ${root}`));
  say(dim("$ mkdir releases/v3 && printf 'v3\\n' > releases/v3/VERSION"));
  say(dim("$ ln -s releases/v3 current.tmp && mv -T current.tmp current"));
  await deployAndShow(sv, "v3", () => deploy.symlinkSwap(root, "v3", "v3\n"));

  step("4. Shutting down");
  say("Stopping supervisord (it stops its programs and releasemon) and removing the temp dir.");
}

if (import.meta.main) {
  let sv: Supervisord | null = null;
  let teardown: Promise<void> | null = null;
  let interrupted = false;
  const cleanUp = (): Promise<void> => {
    teardown ??= (async () => {
      if (sv) await sv[Symbol.asyncDispose]();
    })();
    return teardown;
  };
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const listener = () => {
      if (interrupted) return;
      interrupted = true;
      silenced = true;
      write(`\n${signal}: shutting down supervisord and removing the temp dir...`);
      cleanUp().finally(() => Deno.exit(130));
    };
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });

  let code = 0;
  try {
    await demo((started) => sv = started);
  } catch (error) {
    code = 1;
    if (!interrupted) {
      say();
      say(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
      if (sv) {
        const log = await readLog(sv);
        if (log) say(`releasemon's log:\n${indent(log)}`);
      }
    }
  } finally {
    await cleanUp();
    for (const remove of listeners) remove();
  }
  if (code === 0 && sv) {
    const dir = (sv as Supervisord).dir;
    const left = await Deno.stat(dir).then(() => true, () => false);
    if (left) {
      say(`Could not remove ${dir}; remove it by hand`);
      code = 1;
    } else {
      say(green("Done: supervisord and every program it ran have exited; temp dir removed."));
    }
  }
  Deno.exit(code);
}
