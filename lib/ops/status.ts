/**
 * `--status`: one look, no state file: the version file (label, hash, when it appeared) and, for
 * each target, whether it runs that version (pure). A target is `current` when supervisord
 * started it in or after the second the version appeared, `stale` when it started before (the
 * catch-up rule: a releasemon starting now would restart it), and `down` when it is not RUNNING
 * or STARTING. With no version to compare against, a running target is `unknown`.
 *
 * Exit status, for monitoring: 0 all current; 3 some target stale, down or unknown (or no
 * version file yet); 1 supervisord unreachable or refusing; 2 a configuration problem.
 *
 * @module
 */
import { staleTargets } from "../catch_up.ts";
import { EXIT_OK } from "../errors.ts";
import { planRestart, type SelfIdentity } from "../restart_plan.ts";
import type { ProcessInfo } from "../supervisor/client.ts";
import { type CheckSettings, selectionOf, versionLine } from "./check.ts";
import type { Facts } from "./probe.ts";
import {
  exitCodeOf,
  formatProblems,
  isoTime,
  type Problem,
  supervisorProblems,
  unknownNameProblems,
  versionProblems,
  type VersionSummary,
  versionSummary,
} from "./problems.ts";

/** `--status` exit status when some target is stale, down or unknown. */
export const EXIT_NOT_CURRENT = 3;

export type TargetStatus = "current" | "stale" | "down" | "unknown";

export interface StatusTarget {
  namespec: string;
  state: string;
  pid: number;
  /** ISO time supervisord last started it; null when never started. */
  startedAt: string | null;
  status: TargetStatus;
}

export interface StatusReport {
  exitCode: number;
  supervisord: { url: string; state: string | null };
  versionFile: VersionSummary;
  targets: StatusTarget[];
  problems: Problem[];
}

const UP_STATES = ["RUNNING", "STARTING"];

/** The `--status` report. */
export function buildStatus(
  settings: CheckSettings,
  facts: Facts,
  self: SelfIdentity,
): StatusReport {
  const problems = [...supervisorProblems(facts), ...versionProblems(facts)];
  const supervisor = facts.supervisor;
  let targets: StatusTarget[] = [];
  if (supervisor.kind === "ok") {
    const selection = { ...selectionOf(settings), runningOnly: false, revive: true };
    problems.push(...unknownNameProblems(supervisor.infos, selection));
    const plan = planRestart(supervisor.infos, selection, self);
    const chosen = new Set([...plan.restart, ...plan.skipped].map((entry) => entry.namespec));
    const infos = supervisor.infos.filter((info) => chosen.has(info.namespec))
      .sort((a, b) => a.namespec < b.namespec ? -1 : a.namespec > b.namespec ? 1 : 0);
    const appeared = facts.version.kind === "version" ? facts.appearedAtSec : null;
    const stale = new Set(
      appeared === null ? [] : staleTargets(infos, appeared).map((info) => info.namespec),
    );
    targets = infos.map((info) => target(info, appeared, stale));
  }
  const exit = exitCodeOf(problems);
  const notCurrent = targets.some((t) => t.status !== "current") ||
    facts.version.kind !== "version";
  return {
    exitCode: exit !== EXIT_OK ? exit : notCurrent ? EXIT_NOT_CURRENT : EXIT_OK,
    supervisord: { url: supervisor.url, state: supervisor.kind === "ok" ? supervisor.state : null },
    versionFile: versionSummary(facts),
    targets,
    problems,
  };
}

function target(info: ProcessInfo, appeared: number | null, stale: Set<string>): StatusTarget {
  const up = UP_STATES.includes(info.state);
  const status: TargetStatus = !up
    ? "down"
    : appeared === null
    ? "unknown"
    : stale.has(info.namespec)
    ? "stale"
    : "current";
  return {
    namespec: info.namespec,
    state: info.state,
    pid: info.pid,
    startedAt: info.start > 0 ? isoTime(info.start) : null,
    status,
  };
}

/** The report as a text table. */
export function formatStatusText(report: StatusReport): string {
  const lines = [
    `version file: ${versionLine(report.versionFile)}`,
    `supervisord: ${report.supervisord.url} (${report.supervisord.state ?? "not reached"})`,
  ];
  if (report.targets.length > 0) {
    const rows = [
      ["PROGRAM", "STATE", "PID", "STARTED", "VERSION"],
      ...report.targets.map((t) => [
        t.namespec,
        t.state,
        t.pid === 0 ? "-" : String(t.pid),
        t.startedAt ?? "-",
        t.status,
      ]),
    ];
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows) {
      lines.push(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
    }
  }
  const counts = (["current", "stale", "down", "unknown"] as const)
    .map((status) => [status, report.targets.filter((t) => t.status === status).length] as const)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`);
  lines.push(
    `summary: ${counts.length > 0 ? counts.join(", ") : "no targets"}; exit ${report.exitCode}`,
  );
  if (report.problems.length > 0) lines.push("Problems:", ...formatProblems(report.problems));
  return lines.join("\n");
}
