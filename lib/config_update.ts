/**
 * `--update-config`: a release that changes supervisord program definitions gets them applied
 * exactly once. supervisord applies definitions per group, so for each new version:
 *
 * 1. `reloadConfig` (what `supervisorctl reread` does) → groups added, changed, removed.
 * 2. A changed group whose every program is a target is re-created: `stopProcessGroup`,
 *    `removeProcessGroup`, `addProcessGroup`. Its programs come back with the new definition and
 *    count as restarted (never restarted a second time in the cycle). Programs that ran before
 *    are started (also those with autostart=false); programs the operator had STOPPED are
 *    stopped again if autostart started them (supervisord gives no way to add a group without
 *    autostarting, so such a program runs for an instant).
 * 3. An added group matching the selection is added (its autostart programs start).
 * 4. A removed group that held targets is stopped and removed.
 * 5. A changed group that also holds non-targets is left to the operator (warning); its targets
 *    get a normal restart. releasemon's own group is never touched.
 *
 * `planConfigUpdate` is pure; `applyConfigUpdate` does the calls.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ProgramFailure } from "./machine.ts";
import { startPrograms } from "./restart.ts";
import { isSelf, matchesProgram, type SelfIdentity, type TargetSelection } from "./restart_plan.ts";
import type {
  ConfigChanges,
  ProcessInfo,
  ProgramConfig,
  SupervisorClient,
} from "./supervisor/client.ts";
import { isRunningState } from "./supervisor/states.ts";

const log = getLogger(["releasemon", "config"]);

export interface ConfigPlan {
  /** Changed groups made only of targets: re-created with their new definition. */
  recreate: string[];
  /** New groups that match the selection. */
  add: string[];
  /** Removed groups that held targets. */
  remove: string[];
  /** Changed groups that also hold non-targets: left alone, with the non-target programs. */
  mixed: { group: string; others: string[] }[];
  /** releasemon's own group, when its definition changed. */
  selfChanged: string | null;
}

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

function selectedBy(selection: TargetSelection, program: { name: string; group: string }): boolean {
  if (selection.any || selection.groups.includes(program.group)) return true;
  const asInfo = { name: program.name, group: program.group } as ProcessInfo;
  return selection.programs.some((pattern) => matchesProgram(asInfo, pattern));
}

export function planConfigUpdate(
  changes: ConfigChanges,
  running: readonly ProcessInfo[],
  configured: readonly ProgramConfig[],
  selection: TargetSelection,
  self: SelfIdentity,
): ConfigPlan {
  const plan: ConfigPlan = { recreate: [], add: [], remove: [], mixed: [], selfChanged: null };
  const inGroup = (group: string) => running.filter((info) => info.group === group);
  for (const group of changes.changed) {
    const members = inGroup(group);
    if (members.some((info) => isSelf(info, self))) {
      plan.selfChanged = group;
      continue;
    }
    const others = members.filter((info) => !selectedBy(selection, info));
    if (others.length === members.length) continue; // holds no targets
    if (others.length > 0) plan.mixed.push({ group, others: others.map((i) => i.namespec) });
    else plan.recreate.push(group);
  }
  for (const group of changes.added) {
    if (configured.some((c) => c.group === group && selectedBy(selection, c))) plan.add.push(group);
  }
  for (const group of changes.removed) {
    const members = inGroup(group);
    if (members.some((info) => isSelf(info, self))) continue;
    if (members.some((info) => selectedBy(selection, info))) plan.remove.push(group);
  }
  return plan;
}

/** Logs the plan; in a dry run, that is all. */
export function logConfigPlan(plan: ConfigPlan, dryRun: boolean): void {
  const would = dryRun ? "Dry run: would " : "";
  for (const group of plan.recreate) {
    log.info(`${would}re-create group {group} with its new definition`, { group });
  }
  for (const group of plan.add) log.info(`${would}add new group {group}`, { group });
  for (const group of plan.remove) {
    log.warning(`${would}stop and remove group {group}: it is gone from the configuration`, {
      group,
    });
  }
  for (const { group, others } of plan.mixed) {
    log.warning(
      "Group {group} changed but also holds programs that are not targets ({others}); its targets get a normal restart with the old definition. Apply it with: supervisorctl update {group}",
      { group, others: others.join(" ") },
    );
  }
  if (plan.selfChanged) {
    log.warning(
      "releasemon's own definition (group {group}) changed; restart releasemon to apply it: supervisorctl update {group}",
      { group: plan.selfChanged },
    );
  }
}

export async function applyConfigUpdate(
  client: SupervisorClient,
  plan: ConfigPlan,
  running: readonly ProcessInfo[],
  configured: readonly ProgramConfig[],
  options: { startTimeoutMs: number; signal: AbortSignal },
): Promise<ConfigResult> {
  const result: ConfigResult = {
    recreated: [],
    added: [],
    removed: [],
    failed: [],
    handled: new Set(),
  };
  for (const group of plan.remove) {
    const members = running.filter((info) => info.group === group).map((info) => info.namespec);
    await client.stopProcessGroup(group, true);
    await client.removeProcessGroup(group);
    result.removed.push(...members);
    members.forEach((namespec) => result.handled.add(namespec));
    log.warning("Removed group {group} ({programs})", { group, programs: members.join(" ") });
  }
  const toStart: ProcessInfo[] = [];
  const keepStopped: string[] = [];
  for (const group of plan.recreate) {
    const before = new Map(
      running.filter((i) => i.group === group).map((info) => [info.namespec, info]),
    );
    await client.stopProcessGroup(group, true);
    await client.removeProcessGroup(group);
    await client.addProcessGroup(group);
    before.forEach((_, namespec) => result.handled.add(namespec));
    for (const program of configured.filter((c) => c.group === group)) {
      const old = before.get(program.namespec);
      result.handled.add(program.namespec);
      const wanted = old ? isRunningState(old.state) : program.autostart;
      if (wanted) toStart.push(stub(program, old));
      else if (program.autostart) keepStopped.push(program.namespec);
    }
  }
  for (const group of plan.add) {
    await client.addProcessGroup(group);
    for (const program of configured.filter((c) => c.group === group && c.autostart)) {
      toStart.push(stub(program, undefined));
      result.handled.add(program.namespec);
    }
  }
  await stopAgain(client, keepStopped);
  const started = await startPrograms(client, toStart, options);
  const addedGroups = new Set(plan.add);
  for (const namespec of started.restarted) {
    const group = namespec.slice(0, namespec.indexOf(":"));
    (addedGroups.has(group) ? result.added : result.recreated).push(namespec);
  }
  result.failed.push(
    ...started.failed,
    ...started.pending.map((namespec) => ({
      namespec,
      reason: "start requested; not RUNNING yet",
    })),
  );
  return result;
}

/** A ProcessInfo for a program known only by its configuration (pid 0 when new). */
function stub(program: ProgramConfig, old: ProcessInfo | undefined): ProcessInfo {
  return old ?? {
    name: program.name,
    group: program.group,
    namespec: program.namespec,
    state: "STOPPED",
    pid: 0,
    start: 0,
    stop: 0,
    now: 0,
    spawnerr: "",
    exitstatus: 0,
    description: "",
  };
}

/**
 * Programs the operator had stopped, in a re-created group with autostart: supervisord spawns
 * them on its next loop; stop them once it has (within a few seconds).
 */
async function stopAgain(client: SupervisorClient, namespecs: string[]): Promise<void> {
  const deadline = Date.now() + 3_000;
  let remaining = [...namespecs];
  while (remaining.length > 0 && Date.now() < deadline) {
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
    if (remaining.length > 0) await new Promise((r) => setTimeout(r, 50));
  }
}
