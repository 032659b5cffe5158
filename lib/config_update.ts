/**
 * `--update-config`: a release that changes supervisord program definitions gets them applied
 * exactly once. supervisord applies definitions per group, so for each new version:
 *
 * 1. `reloadConfig` (what `supervisorctl reread` does) → groups added, changed, removed.
 * 2. A changed group whose every program is a target is re-created: `stopProcessGroup` without
 *    waiting in the call, then its programs are followed down for as long as their stopwaitsecs
 *    take (not the RPC timeout), `removeProcessGroup`, `addProcessGroup`. Its programs come back
 *    with the new definition and count as restarted (never restarted a second time in the cycle).
 *    A group re-created is no longer in reloadConfig's diff, so a retry never re-creates it
 *    again; a lost answer is recognised (BAD_NAME on remove, ALREADY_ADDED on add). When the
 *    group cannot be re-created, what ran before is started again on its old definition and
 *    reported failed with supervisord's reason. Programs that ran before
 *    are started (also those with autostart=false); programs the operator had STOPPED are
 *    stopped again if autostart started them (supervisord gives no way to add a group without
 *    autostarting, so such a program runs for an instant).
 * 3. An added group matching the selection is added (its autostart programs start).
 * 4. A removed group that held targets is stopped and removed.
 * 5. A changed group that also holds non-targets is left to the operator (warning); its targets
 *    get a normal restart. releasemon's own group is never touched.
 *
 * Once something is stopped nothing throws: failed calls are ridden out (`_ride_out.ts`) and end
 * as per-program failures. A dry run never calls `reloadConfig` (it is a write).
 *
 * `planConfigUpdate` (`_config_plan.ts`) is pure; `applyConfigUpdate` does the calls.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { errorText, type Pace, paceOf, patiently, waitUntilStopped } from "./_ride_out.ts";
import { SupervisorFault } from "./errors.ts";
import type { ProgramFailure } from "./restart_report.ts";
import { describeFault, startPrograms } from "./restart.ts";
import { type ConfigPlan, stub } from "./_config_plan.ts";
import { type Clock, sleep } from "./clock.ts";
import type { ProcessInfo, ProgramConfig, SupervisorClient } from "./supervisor/client.ts";
import { isRunningState } from "./supervisor/states.ts";

export { logConfigDryRun, logConfigPlan, planConfigUpdate } from "./_config_plan.ts";
export type { ConfigPlan } from "./_config_plan.ts";

const log = getLogger(["releasemon", "config"]);

/** What the config step did, for the log, the post command and the normal restart after it. */
export interface ConfigResult {
  /** Programs re-created with a new definition and RUNNING. */
  recreated: string[];
  added: string[];
  removed: string[];
  failed: ProgramFailure[];
  /** Namespecs handled here: the normal restart leaves them out. */
  handled: Set<string>;
}

export interface ApplyOptions {
  startTimeoutMs: number;
  signal: AbortSignal;
  /** Give up on a group still stopping after this long (its stopwaitsecs decide). @default 600_000 */
  stopTimeoutMs?: number;
  /** Paces the polls and measures the timeouts and outages. @default monotonicClock */
  clock?: Clock;
}

/**
 * Applies `plan`. Never throws once it has stopped something: a stop is followed for as long as
 * supervisord needs (a program's stopwaitsecs, not the RPC timeout), failed calls are ridden out
 * (`_ride_out.ts`), and a program that ran before is RUNNING afterwards (its new definition, or its
 * old one when its group could not be re-created) or reported failed with the reason.
 */
export async function applyConfigUpdate(
  client: SupervisorClient,
  plan: ConfigPlan,
  running: readonly ProcessInfo[],
  configured: readonly ProgramConfig[],
  options: ApplyOptions,
): Promise<ConfigResult> {
  const pace = paceOf(options.clock);
  const stopTimeoutMs = options.stopTimeoutMs ?? 600_000;
  const takeDown = (group: string, members: readonly ProcessInfo[]) =>
    stopGroup(client, group, members, pace, stopTimeoutMs);
  const result: ConfigResult = {
    recreated: [],
    added: [],
    removed: [],
    failed: [],
    handled: new Set(),
  };
  const failAll = (namespecs: readonly string[], reason: string) => {
    for (const namespec of namespecs) {
      result.failed.push({ namespec, reason });
      log.error("Cannot apply the new definition of {namespec}: {reason}", { namespec, reason });
    }
  };
  for (const group of plan.remove) {
    const members = running.filter((info) => info.group === group);
    const names = members.map((info) => info.namespec);
    names.forEach((namespec) => result.handled.add(namespec));
    const problem = await takeDown(group, members) ?? await removeGroup(client, group, pace);
    if (problem !== null) {
      failAll(names, `group ${group} not removed: ${problem}`);
      continue;
    }
    result.removed.push(...names);
    log.warning("Removed group {group} ({programs})", { group, programs: names.join(" ") });
  }
  const toStart: ProcessInfo[] = [];
  const keepStopped: string[] = [];
  /** Programs whose group could not be re-created: back on their old definition, and why. */
  const restore = new Map<string, { info: ProcessInfo; problem: string }>();
  for (const group of plan.recreate) {
    const members = running.filter((info) => info.group === group);
    const before = new Map(members.map((info) => [info.namespec, info]));
    before.forEach((_, namespec) => result.handled.add(namespec));
    const wasRunning = members.filter((info) => isRunningState(info.state));
    const kept = await takeDown(group, members) ?? await removeGroup(client, group, pace);
    if (kept !== null) {
      // Still defined the old way: what ran before runs again, and the release is not applied.
      const problem = `group ${group} not re-created: ${kept}`;
      for (const info of wasRunning) restore.set(info.namespec, { info, problem });
      continue;
    }
    const notAdded = await addGroup(client, group, pace);
    if (notAdded !== null) {
      failAll(
        wasRunning.map((info) => info.namespec),
        `group ${group} removed but not added again: ${notAdded}; add it with: supervisorctl update ${group}`,
      );
      continue;
    }
    log.info("Re-created group {group} with its new definition", { group });
    for (const program of configured.filter((c) => c.group === group)) {
      const old = before.get(program.namespec);
      result.handled.add(program.namespec);
      const wanted = old ? isRunningState(old.state) : program.autostart;
      if (wanted) toStart.push(stub(program, old));
      else if (program.autostart) keepStopped.push(program.namespec);
    }
  }
  for (const group of plan.add) {
    const starting = configured.filter((c) => c.group === group && c.autostart);
    starting.forEach((program) => result.handled.add(program.namespec));
    const problem = await addGroup(client, group, pace);
    if (problem !== null) {
      failAll(starting.map((p) => p.namespec), `new group ${group} not added: ${problem}`);
      continue;
    }
    for (const program of starting) toStart.push(stub(program, undefined));
  }
  await stopAgain(client, keepStopped, pace);
  const started = await startPrograms(client, toStart, options);
  const addedGroups = new Set(plan.add);
  for (const namespec of started.restarted) {
    const group = namespec.slice(0, namespec.indexOf(":"));
    (addedGroups.has(group) ? result.added : result.recreated).push(namespec);
  }
  result.failed.push(...started.failed, ...notRunningYet(started.pending));
  await startOldAgain(client, restore, result, options);
  return result;
}

/** Starts again, on their old definition, the programs of groups that could not be re-created. */
async function startOldAgain(
  client: SupervisorClient,
  restore: ReadonlyMap<string, { info: ProcessInfo; problem: string }>,
  result: ConfigResult,
  options: ApplyOptions,
): Promise<void> {
  if (restore.size === 0) return;
  const again = await startPrograms(client, [...restore.values()].map((r) => r.info), options);
  const why = new Map([...again.failed, ...notRunningYet(again.pending)].map((f) => [
    f.namespec,
    f.reason,
  ]));
  for (const [namespec, { problem }] of restore) {
    const after = why.has(namespec)
      ? `; not started again either: ${why.get(namespec)}`
      : "; it runs its previous definition again";
    const reason = problem + after;
    result.failed.push({ namespec, reason });
    log.error("Cannot apply the new definition of {namespec}: {reason}", { namespec, reason });
  }
}

function notRunningYet(namespecs: readonly string[]): ProgramFailure[] {
  return namespecs.map((namespec) => ({ namespec, reason: "start requested; not RUNNING yet" }));
}

/**
 * Stops a group without waiting in the call (`wait=false`: a 30 s graceful stop outlasts any RPC
 * timeout) and follows its programs down; null once all are down, else why not.
 */
async function stopGroup(
  client: SupervisorClient,
  group: string,
  members: readonly ProcessInfo[],
  pace: Pace,
  stopTimeoutMs: number,
): Promise<string | null> {
  try {
    const statuses = await patiently(pace, () => client.stopProcessGroup(group, false));
    const refused = statuses.filter((s) => s.status !== "SUCCESS" && s.status !== "NOT_RUNNING");
    if (refused.length > 0) {
      return refused.map((s) => `${s.namespec}: ${s.description || s.status}`).join(", ");
    }
  } catch (error) {
    return `cannot stop it: ${reasonOf(error)}`;
  }
  const up = await waitUntilStopped(client, members.map((i) => i.namespec), pace, stopTimeoutMs);
  if (up.size === 0) return null;
  return [...up].map(([namespec, why]) => `${namespec} ${why}`).join(", ");
}

/** removeProcessGroup; BAD_NAME means an earlier call (whose answer was lost) did it. */
async function removeGroup(client: SupervisorClient, group: string, pace: Pace) {
  try {
    await patiently(pace, () => client.removeProcessGroup(group));
    return null;
  } catch (error) {
    if (error instanceof SupervisorFault && error.faultName === "BAD_NAME") return null;
    return `cannot remove it: ${reasonOf(error)}`;
  }
}

/** addProcessGroup; ALREADY_ADDED means an earlier call (whose answer was lost) did it. */
async function addGroup(client: SupervisorClient, group: string, pace: Pace) {
  try {
    await patiently(pace, () => client.addProcessGroup(group));
    return null;
  } catch (error) {
    if (error instanceof SupervisorFault && error.faultName === "ALREADY_ADDED") return null;
    return reasonOf(error);
  }
}

function reasonOf(error: unknown): string {
  return error instanceof SupervisorFault ? describeFault(error) : errorText(error);
}

/**
 * Programs the operator had stopped, in a re-created group with autostart: supervisord spawns
 * them on its next loop; stop them once it has (within a few seconds). Best effort: a failed call
 * only means one of them may keep running, which is logged.
 */
async function stopAgain(client: SupervisorClient, namespecs: string[], pace: Pace): Promise<void> {
  const deadline = pace.clock.now() + 3_000;
  let remaining = [...namespecs];
  while (remaining.length > 0 && pace.clock.now() < deadline) {
    try {
      const infos = new Map((await client.getAllProcessInfo()).map((i) => [i.namespec, i]));
      const spawned = remaining.filter((n) => isRunningState(infos.get(n)?.state ?? "STOPPED"));
      if (spawned.length > 0) {
        await client.multicall(
          spawned.map((n) => ({ methodName: "supervisor.stopProcess", params: [n, false] })),
        );
        for (const namespec of spawned) {
          log.info("Stopped {namespec} again: the operator had stopped it before the release", {
            namespec,
          });
        }
      }
      remaining = remaining.filter((n) => !spawned.includes(n));
    } catch (error) {
      log.warning("Cannot check whether {programs} must be stopped again: {error}", {
        programs: remaining.join(" "),
        error: errorText(error),
      });
    }
    if (remaining.length > 0) await sleep(pace.clock, 50);
  }
}
