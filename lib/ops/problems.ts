/**
 * The problems `--check` and `--status` report, each with its fix, and the exit status they
 * lead to (pure). Both commands share these, so the same mistake reads the same in both.
 *
 * @module
 */
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "../errors.ts";
import { matchesProgram, type TargetSelection } from "../restart_plan.ts";
import type { ProcessInfo } from "../supervisor/client.ts";
import type { VersionRead } from "../watch/version_file.ts";
import type { Facts } from "./probe.ts";

/**
 * One finding. `configuration`: the command line or the host's setup is wrong (exit 2);
 * `connection`: supervisord or Redis cannot be reached or refuses the credentials (exit 1);
 * `warning`: worth knowing, but releasemon would work.
 */
export interface Problem {
  severity: "configuration" | "connection" | "warning";
  message: string;
  fix: string;
}

/** The version file as the reports show it. */
export interface VersionSummary {
  path: string;
  state: VersionRead["kind"];
  label: string | null;
  hash: string | null;
  /** ISO time when it appeared (catch-up's rule), null when there is no version. */
  appearedAt: string | null;
  reason: string | null;
}

/** 0 when nothing but warnings, else 2 for any configuration problem, else 1. */
export function exitCodeOf(problems: readonly Problem[]): number {
  if (problems.some((problem) => problem.severity === "configuration")) return EXIT_USAGE;
  if (problems.some((problem) => problem.severity === "connection")) return EXIT_FAILURE;
  return EXIT_OK;
}

export function versionSummary(facts: Facts): VersionSummary {
  const read = facts.version;
  const version = read.kind === "version" ? read.version : null;
  return {
    path: facts.versionFile,
    state: read.kind,
    label: version?.label ?? null,
    hash: version?.hash ?? null,
    appearedAt: version && facts.appearedAtSec !== null ? isoTime(facts.appearedAtSec) : null,
    reason: read.kind === "unreadable" ? read.reason : null,
  };
}

/** What is wrong with the version file, for a releasemon about to watch it. */
export function versionProblems(facts: Facts): Problem[] {
  const read = facts.version;
  const path = JSON.stringify(facts.versionFile);
  switch (read.kind) {
    case "version":
      return [];
    case "missing":
      return [{
        severity: "warning",
        message: `The version file ${path} does not exist yet; releasemon waits for it`,
        fix: "nothing, if the next deploy writes it; otherwise check PATH for a typo",
      }];
    case "empty":
      return [{
        severity: "warning",
        message: `The version file ${path} is empty; an empty file is not a version`,
        fix: "write the release's version into it (e.g. the git commit)",
      }];
    case "unreadable":
      if (read.reason === "is a directory") {
        return [{
          severity: "configuration",
          message: `PATH ${path} is a directory; releasemon watches one file`,
          fix: `give the version file inside it, e.g. ${
            facts.versionFile.replace(/\/$/, "")
          }/VERSION`,
        }];
      }
      return [{
        severity: "configuration",
        message: `Cannot read the version file ${path}: ${read.reason}`,
        fix: "make it (and every directory above it) readable by the user releasemon runs as",
      }];
  }
}

/** What is wrong with reaching supervisord. */
export function supervisorProblems(facts: Facts): Problem[] {
  const supervisor = facts.supervisor;
  if (supervisor.kind === "ok") {
    if (supervisor.state === "RUNNING") return [];
    return [{
      severity: "warning",
      message: `supervisord at ${JSON.stringify(supervisor.url)} is ${supervisor.state}`,
      fix: "wait until it is RUNNING again",
    }];
  }
  const severity = supervisor.kind === "unusable" ? "configuration" : "connection";
  return [{ severity, message: supervisor.message, fix: supervisor.fix }];
}

/** Requested names and groups that match no process, each with the closest existing name. */
export function unknownNameProblems(
  infos: readonly ProcessInfo[],
  selection: TargetSelection,
): Problem[] {
  const problems: Problem[] = [];
  const groups = [...new Set(infos.map((info) => info.group))];
  const names = [...new Set([...infos.map((info) => info.name), ...groups])];
  const namespecs = [...infos.map((info) => info.namespec), ...groups.map((g) => `${g}:*`)];
  const fix = (candidates: string[], word: string, what: string) => {
    const close = closestName(word, candidates);
    const list = "supervisorctl status lists the programs";
    return close === null
      ? `correct the ${what}; ${list}`
      : `did you mean ${JSON.stringify(close)}? correct the ${what}; ${list}`;
  };
  for (const pattern of selection.programs) {
    if (infos.some((info) => matchesProgram(info, pattern))) continue;
    problems.push({
      severity: "configuration",
      message: `No program or group matches PROG ${JSON.stringify(pattern)}`,
      fix: fix(pattern.includes(":") ? namespecs : names, pattern, "name"),
    });
  }
  for (const group of selection.groups) {
    if (groups.includes(group)) continue;
    problems.push({
      severity: "configuration",
      message: `No group matches -g ${JSON.stringify(group)}`,
      fix: fix(groups, group, "group name"),
    });
  }
  return problems;
}

/**
 * The candidate closest to `word` by edit distance, when close enough to be a typo (at most a
 * third of the word's length, and at least 1 and at most 3 edits); null otherwise.
 */
export function closestName(word: string, candidates: readonly string[]): string | null {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]!.push(value);
    }
  }
  return rows[a.length]![b.length]!;
}

/** Epoch seconds as an ISO time. */
export function isoTime(epochSec: number): string {
  return new Date(epochSec * 1000).toISOString().replace(".000Z", "Z");
}

/** Problems as text lines: `  - message` and `    fix: ...`. */
export function formatProblems(problems: readonly Problem[]): string[] {
  const lines: string[] = [];
  for (const problem of problems) {
    const tag = problem.severity === "warning" ? "warning" : "problem";
    lines.push(`  - ${tag}: ${problem.message}`, `    fix: ${problem.fix}`);
  }
  return lines;
}
