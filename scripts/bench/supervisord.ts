/**
 * A supervisord of the bench's own, in `/tmp/rmbench-*`, always torn down completely.
 *
 * Teardown first stops every program over XML-RPC (no time limit but a generous one), so that
 * supervisord's own shutdown is quick: the test helper SIGKILLs a supervisord still shutting
 * down after 15 s, and 200 programs on a slow-forking, loaded machine can take longer, which
 * would orphan them. As a last resort it kills any process still carrying this supervisord's
 * socket in its environment (every child of it does, in `SUPERVISOR_SERVER_URL`).
 *
 * @module
 */
import {
  type ProgramSpec,
  Supervisord,
  type SupervisordOptions,
} from "../../tests/support/supervisord.ts";
import { releasemonProgram } from "../../tests/support/releasemon.ts";
import { createClient, type SupervisorClient } from "../../lib/supervisor/client.ts";
import { LogTail, sleep, until } from "./support.ts";

/** Temp dirs of the bench's own supervisords: short (unix socket paths) and recognisable. */
export const TEMP_PREFIX = "rmbench-";

/** Longest wait for one XML-RPC call: starting 200 programs takes 200 forks of supervisord. */
const CALL_TIMEOUT_MS = 300_000;

export class BenchSupervisord extends Supervisord {
  /** A client whose calls may take minutes (group calls on many programs). */
  benchClient(): SupervisorClient {
    return createClient({ serverUrl: this.unixUrl, timeoutMs: CALL_TIMEOUT_MS });
  }

  override async [Symbol.asyncDispose](): Promise<void> {
    try {
      if (this.running) await this.#stopPrograms();
    } catch { /* supervisord is gone or wedged: its own shutdown and the sweep still run */ }
    try {
      await super[Symbol.asyncDispose]();
    } finally {
      await killChildrenOf(this.unixUrl);
    }
  }

  async #stopPrograms(): Promise<void> {
    const client = this.benchClient();
    await client.call("supervisor.stopAllProcesses", [false]);
    await until("every program to stop", async () => {
      const infos = await client.getAllProcessInfo();
      return infos.every((i) =>
        !["RUNNING", "STARTING", "STOPPING", "BACKOFF"].includes(i.state)
      ) ||
        undefined;
    }, { intervalMs: 100, timeoutMs: 120_000 });
  }
}

/**
 * Processes that belong to a bench supervisord: by command line (supervisord, releasemon) or by
 * environment (every child): `pid command` each.
 */
export async function benchProcesses(): Promise<string[]> {
  const found: string[] = [];
  const tag = `/tmp/${TEMP_PREFIX}`;
  for await (const entry of Deno.readDir("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    const environ = await Deno.readTextFile(`/proc/${pid}/environ`).catch(() => "");
    if (cmdline.includes(tag) || environ.includes(`SUPERVISOR_SERVER_URL=unix://${tag}`)) {
      found.push(`${pid} ${cmdline.replaceAll("\0", " ").trim()}`);
    }
  }
  return found;
}

/** Kills what is left of a supervisord's children (they all have its URL in their environment). */
async function killChildrenOf(serverUrl: string): Promise<number[]> {
  const marker = `SUPERVISOR_SERVER_URL=${serverUrl}\0`;
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    const environ = await Deno.readTextFile(`/proc/${pid}/environ`).catch(() => "");
    if (environ.includes(marker)) found.push(pid);
  }
  for (const pid of found) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* exited meanwhile */ }
  }
  if (found.length > 0) await sleep(100);
  return found;
}

/**
 * Starts a supervisord of the bench's own in a new `/tmp/rmbench-*` dir, with `more(sv)`'s
 * programs added (those need its dir or socket). Dispose it with `await using`.
 */
export async function startBenchSupervisord(
  options: SupervisordOptions,
  more: (sv: BenchSupervisord) => ProgramSpec[] = () => [],
): Promise<BenchSupervisord> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: TEMP_PREFIX });
  const sv = new BenchSupervisord(dir, null, null);
  try {
    for (const [relative, content] of Object.entries(options.files ?? {})) {
      await sv.writeFile(relative, content);
    }
    await sv.writeConfig({ ...options, programs: [...(options.programs ?? []), ...more(sv)] });
    await sv.start();
    return sv;
  } catch (error) {
    await sv[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * releasemon as users run it: a supervisord `[program:releasemon]` running main.ts under the
 * compiled binary's permissions, logging at info to `<dir>/releasemon.log`. `--no-catch-up`: the
 * targets start after the version file is written, so catch-up has nothing to do; the flag only
 * makes sure no start-up restart races the first measured write.
 */
export function releasemonFor(sv: Supervisord, args: readonly string[]): ProgramSpec {
  return releasemonProgram(sv, [...args, "--log-level", "info", "--no-catch-up"]);
}

/** Waits until releasemon logs that it watches (it has read the baseline and armed inotify). */
export async function waitUntilWatching(sv: Supervisord, signal?: AbortSignal): Promise<void> {
  const tail = new LogTail(`${sv.dir}/releasemon.log`);
  let text = "";
  await until("releasemon to log that it watches", async () => {
    text += (await tail.lines()).join("\n");
    return /\[run\] Watching /.test(text) ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 25, ...(signal ? { signal } : {}) });
}
