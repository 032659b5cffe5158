/**
 * Which programs a restart touches, decided from `getAllProcessInfo` alone (pure).
 *
 * Target selection follows supervisorctl's namespecs, made friendlier the way superfsmon users
 * expect: `PROG` without a colon matches a process of that name in any group and also every
 * process of a group of that name (so `web` covers `numprocs` programs `web:web_0..N`);
 * `group:name` is exact; `group:*` is the whole group; `-g GROUP` is the whole group; `-a` is
 * every process. releasemon itself is never a target.
 *
 * @module
 */
import type { ProcessInfo } from "./supervisor/client.ts";
import type { ProcessStateName } from "./supervisor/states.ts";

export interface TargetSelection {
  programs: readonly string[];
  groups: readonly string[];
  any: boolean;
  /** Only RUNNING programs (not STARTING). */
  runningOnly: boolean;
  /** Also start programs in FATAL or BACKOFF (crashed by a broken release). */
  revive?: boolean;
}

/** How releasemon recognises its own process among supervisord's children. */
export interface SelfIdentity {
  pid: number;
  processName: string | null;
  groupName: string | null;
}

export interface RestartPlan {
  /** Programs to restart, sorted by namespec (a stable order makes the first batch a canary). */
  restart: ProcessInfo[];
  /** Matching programs left alone, with the reason. */
  skipped: { namespec: string; reason: string }[];
  /** Requested PROG names and groups that matched no process. */
  unknown: string[];
}

/** True when `info` is releasemon's own process. */
export function isSelf(info: ProcessInfo, self: SelfIdentity): boolean {
  if (info.pid !== 0 && info.pid === self.pid) return true;
  if (self.processName === null || info.name !== self.processName) return false;
  return self.groupName === null || info.group === self.groupName;
}

/** True when `info` matches the PROG `pattern`. */
export function matchesProgram(info: ProgramName, pattern: string): boolean {
  const colon = pattern.indexOf(":");
  if (colon < 0) return info.name === pattern || info.group === pattern;
  const group = pattern.slice(0, colon);
  const name = pattern.slice(colon + 1);
  return info.group === group && (name === "" || name === "*" || info.name === name);
}

/** A program's name and group: enough to match it against a selection. */
export type ProgramName = Pick<ProcessInfo, "name" | "group">;

/** True when `selection` (-a, -g GROUP, PROG) selects `program`. */
export function selectedBy(selection: TargetSelection, program: ProgramName): boolean {
  return selection.any || selection.groups.includes(program.group) ||
    selection.programs.some((pattern) => matchesProgram(program, pattern));
}

/** Why a selected program is not restarted in `state`, or null when it is. */
export function skipReason(state: ProcessStateName, selection: TargetSelection): string | null {
  switch (state) {
    case "RUNNING":
      return null;
    case "STARTING":
      return selection.runningOnly ? "STARTING (--running-only restarts only RUNNING)" : null;
    case "BACKOFF":
    case "FATAL":
      return selection.revive ? null : `${state} (use --revive to start it with the new release)`;
    case "STOPPED":
      return "STOPPED (a restart never starts a stopped program)";
    case "EXITED":
      return "EXITED (not running; left as it is)";
    case "STOPPING":
      return "STOPPING (already being stopped by someone else)";
    case "UNKNOWN":
      return "UNKNOWN state";
  }
}

export function planRestart(
  infos: readonly ProcessInfo[],
  selection: TargetSelection,
  self: SelfIdentity,
): RestartPlan {
  const restart: ProcessInfo[] = [];
  const skipped: RestartPlan["skipped"] = [];
  for (const info of infos) {
    if (!selectedBy(selection, info) || isSelf(info, self)) continue;
    const reason = skipReason(info.state, selection);
    if (reason === null) restart.push(info);
    else skipped.push({ namespec: info.namespec, reason });
  }
  restart.sort((a, b) => compare(a.namespec, b.namespec));
  skipped.sort((a, b) => compare(a.namespec, b.namespec));
  return { restart, skipped, unknown: unknownNames(infos, selection) };
}

/** Requested PROG names and groups that match no process at all (typos, removed programs). */
export function unknownNames(infos: readonly ProcessInfo[], selection: TargetSelection): string[] {
  const unknown: string[] = [];
  for (const pattern of selection.programs) {
    if (!infos.some((info) => matchesProgram(info, pattern))) unknown.push(pattern);
  }
  for (const group of selection.groups) {
    if (!infos.some((info) => info.group === group)) unknown.push(`${group} (group)`);
  }
  return unknown;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
