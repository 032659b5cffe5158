/**
 * `--update-config`, the pure half: which groups of reloadConfig's diff to re-create, add and
 * remove, and what the plan says to the operator before it is applied (`config_update.ts`).
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { isSelf, selectedBy, type SelfIdentity, type TargetSelection } from "./restart_plan.ts";
import type { ConfigChanges, ProcessInfo, ProgramConfig } from "./supervisor/client.ts";

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

/**
 * A dry run's account of `--update-config`, without `reloadConfig` (a write: it replaces the
 * configuration supervisord would apply). `configured` is the configuration as last read.
 */
export function logConfigDryRun(
  configured: readonly ProgramConfig[],
  selection: TargetSelection,
  self: SelfIdentity,
): void {
  const groups = new Set(
    configured
      .filter((c) => selectedBy(selection, c) && !isSelf(stub(c, undefined), self))
      .map((c) => c.group),
  );
  log.info(
    "Dry run: would re-read supervisord's program definitions (reloadConfig), re-create changed groups made only of targets, add new matching groups and remove those gone; not re-read now, since that changes supervisord's view of its configuration",
  );
  log.info("Dry run: groups configured now that hold targets: {groups}", {
    groups: [...groups].join(" ") || "(none)",
  });
}

/** Logs the plan, before it is applied. */
export function logConfigPlan(plan: ConfigPlan): void {
  for (const group of plan.recreate) {
    log.info("Will re-create group {group} with its new definition", { group });
  }
  for (const group of plan.add) log.info("Will add new group {group}", { group });
  for (const group of plan.remove) {
    log.warning("Will stop and remove group {group}: it is gone from the configuration", { group });
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

/** A ProcessInfo for a program known only by its configuration (pid 0 when new). */
export function stub(program: ProgramConfig, old: ProcessInfo | undefined): ProcessInfo {
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
