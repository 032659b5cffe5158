/**
 * `--check`: from what {@link probe} found, the plan a new version would follow (which programs,
 * in which order and batches, after which delays, between which hooks) and every problem with
 * its fix (pure). `main.ts` prints it and exits with {@link CheckReport.exitCode}.
 *
 * ```sh
 * releasemon --check -fd 10 --rolling -g workers /app/.version   # before adding the [program]
 * ```
 *
 * @module
 */
import { staleTargets } from "../catch_up.ts";
import type { Config } from "../config.ts";
import { formatDuration } from "../delay.ts";
import { planRestart, type SelfIdentity, type TargetSelection } from "../restart_plan.ts";
import { batches } from "../rollout.ts";
import type { Facts, HookFacts } from "./probe.ts";
import {
  exitCodeOf,
  formatProblems,
  type Problem,
  supervisorProblems,
  unknownNameProblems,
  versionProblems,
  type VersionSummary,
  versionSummary,
} from "./problems.ts";

/** One program of the plan. */
export interface PlannedTarget {
  namespec: string;
  state: string;
  pid: number;
}

/** A hook of the plan. */
export interface PlannedHook {
  command: string;
  found: HookFacts["found"];
  resolved: string | null;
  timeoutMs: number;
}

/** What a new version would do; null parts were not knowable (supervisord not reached). */
export interface CheckPlan {
  enabled: boolean;
  dryRun: boolean;
  fixedDelayMs: number;
  randomDelayMs: number;
  preRestart: PlannedHook | null;
  postRestart: PlannedHook | null;
  updateConfig: boolean;
  /** Programs per batch; null: all at once. */
  batchSize: number | null;
  /** With batches: how long each batch may take to reach RUNNING. */
  startTimeoutMs: number | null;
  /** The batches, in order (one batch without --rolling/--batch-size). */
  batches: PlannedTarget[][] | null;
  skipped: { namespec: string; reason: string }[] | null;
  /** What the first start would restart by catch-up (null: --no-catch-up or not knowable). */
  catchUp: string[] | null;
  fleet: { url: string; name: string; maxParallel: number; canary: number } | null;
}

export interface CheckReport {
  ok: boolean;
  exitCode: number;
  supervisord: { url: string; state: string | null };
  versionFile: VersionSummary;
  plan: CheckPlan;
  problems: Problem[];
}

/** The settings `--check` reports on (a subset of {@link Config}). */
export type CheckSettings = Pick<
  Config,
  | "programs"
  | "groups"
  | "any"
  | "runningOnly"
  | "revive"
  | "enabled"
  | "dryRun"
  | "fixedDelayMs"
  | "randomDelayMs"
  | "preRestart"
  | "postRestart"
  | "hookTimeoutMs"
  | "updateConfig"
  | "batchSize"
  | "startTimeoutMs"
  | "catchUp"
  | "fleet"
>;

export function selectionOf(settings: CheckSettings): TargetSelection {
  return {
    programs: settings.programs,
    groups: settings.groups,
    any: settings.any,
    runningOnly: settings.runningOnly,
    revive: settings.revive,
  };
}

/** The `--check` report. */
export function buildCheck(settings: CheckSettings, facts: Facts, self: SelfIdentity): CheckReport {
  const problems = [...supervisorProblems(facts), ...versionProblems(facts)];
  const supervisor = facts.supervisor;
  let planned: Pick<CheckPlan, "batches" | "skipped" | "catchUp"> = {
    batches: null,
    skipped: null,
    catchUp: null,
  };
  if (supervisor.kind === "ok") {
    const selection = selectionOf(settings);
    problems.push(...unknownNameProblems(supervisor.infos, selection));
    const plan = planRestart(supervisor.infos, selection, self);
    const targets = plan.restart.map((i) => ({ namespec: i.namespec, state: i.state, pid: i.pid }));
    const stale = settings.catchUp && facts.appearedAtSec !== null
      ? staleTargets(plan.restart, facts.appearedAtSec).map((info) => info.namespec)
      : null;
    planned = {
      batches: batches(targets, settings.batchSize),
      skipped: plan.skipped,
      catchUp: stale,
    };
    if (targets.length === 0 && !problems.some((p) => p.severity === "configuration")) {
      problems.push({
        severity: "warning",
        message: "A new version would restart nothing: no selected program is running",
        fix: "start the programs, or see why each one is left alone (skipped)",
      });
    }
  }
  for (const hook of facts.hooks) problems.push(...hookProblems(hook));
  problems.push(...fleetProblems(facts));
  if (!settings.enabled) {
    problems.push({
      severity: "warning",
      message: "releasemon is disabled (-e/--disable): it would wait for SIGTERM and do nothing",
      fix: "nothing, if this host should not restart anything",
    });
  }
  const hook = (which: "pre" | "post", command: string | null): PlannedHook | null => {
    if (command === null) return null;
    const facts_ = facts.hooks.find((h) => h.hook === which);
    return {
      command,
      found: facts_?.found ?? "unchecked",
      resolved: facts_?.resolved ?? null,
      timeoutMs: settings.hookTimeoutMs,
    };
  };
  const fleet = settings.fleet;
  const exitCode = exitCodeOf(problems);
  return {
    ok: exitCode === 0,
    exitCode,
    supervisord: { url: supervisor.url, state: supervisor.kind === "ok" ? supervisor.state : null },
    versionFile: versionSummary(facts),
    plan: {
      enabled: settings.enabled,
      dryRun: settings.dryRun,
      fixedDelayMs: settings.fixedDelayMs,
      randomDelayMs: settings.randomDelayMs,
      preRestart: hook("pre", settings.preRestart),
      postRestart: hook("post", settings.postRestart),
      updateConfig: settings.updateConfig,
      batchSize: settings.batchSize,
      startTimeoutMs: settings.batchSize === null ? null : settings.startTimeoutMs,
      ...planned,
      fleet: fleet && {
        url: facts.fleet?.url ?? fleet.url,
        name: fleet.name,
        maxParallel: fleet.maxParallel,
        canary: fleet.canary,
      },
    },
    problems,
  };
}

function hookProblems(hook: HookFacts): Problem[] {
  const flag = hook.hook === "pre" ? "-pre/--pre-restart" : "-post/--post-restart";
  const word = JSON.stringify(hook.program.word);
  switch (hook.found) {
    case "executable":
    case "builtin":
      return [];
    case "unchecked":
      return [{
        severity: "warning",
        message: `Cannot check the ${flag} command before it runs: ${
          hook.program.kind === "unknown" ? hook.program.reason : "unknown"
        }`,
        fix: "run it once by hand as the user releasemon runs as",
      }];
    case "missing":
      return [{
        severity: "configuration",
        message: hook.program.kind === "path"
          ? `The ${flag} command ${word} does not exist`
          : `The ${flag} command ${word} is not a shell builtin and not in PATH`,
        fix: hook.program.kind === "path"
          ? "correct the path (a relative one starts from releasemon's working directory)"
          : "give its absolute path, or set PATH in the [program]'s environment= " +
            "(checked here with this shell's PATH)",
      }];
    case "not-executable":
      return [{
        severity: "configuration",
        message: `The ${flag} command ${word} is not executable`,
        fix:
          `chmod +x ${hook.program.word}, or run it through its interpreter (sh ${hook.program.word})`,
      }];
    case "directory":
      return [{
        severity: "configuration",
        message: `The ${flag} command ${word} is a directory`,
        fix: "give the script or program inside it",
      }];
  }
}

function fleetProblems(facts: Facts): Problem[] {
  const fleet = facts.fleet;
  if (fleet === null || fleet.kind === "ok") return [];
  return [{
    severity: "connection",
    message: fleet.message,
    fix: fleet.kind === "refused"
      ? "set RELEASEMON_FLEET_PASSWORD to the Redis password (requirepass or the ACL user's)"
      : "start Redis or check --fleet URL and the network (and --allow-net for the binary)",
  }];
}

/** The report as text for a person. */
export function formatCheckText(report: CheckReport): string {
  const lines: string[] = [];
  const { plan, versionFile } = report;
  const count = report.problems.filter((p) => p.severity !== "warning").length;
  lines.push(
    report.ok
      ? "releasemon --check: OK"
      : `releasemon --check: ${count} problem(s), exit ${report.exitCode}`,
    `supervisord: ${report.supervisord.url} (${report.supervisord.state ?? "not reached"})`,
    `version file: ${versionLine(versionFile)}`,
  );
  if (plan.fleet) {
    lines.push(
      `fleet: ${plan.fleet.url} name ${plan.fleet.name}, ${plan.fleet.maxParallel} host(s) at a time, canary ${plan.fleet.canary}`,
    );
  }
  lines.push(
    plan.dryRun
      ? "On a new version releasemon would only log (--dry-run):"
      : "On a new version releasemon would:",
  );
  let step = 1;
  const add = (text: string) => lines.push(`  ${step++}. ${text}`);
  if (plan.fixedDelayMs + plan.randomDelayMs > 0) {
    const random = plan.randomDelayMs > 0
      ? ` plus a random 0 to ${formatDuration(plan.randomDelayMs)}`
      : "";
    add(`wait ${formatDuration(plan.fixedDelayMs)}${random}`);
  }
  if (plan.preRestart) add(`run the pre-restart command ${hookText(plan.preRestart)}`);
  if (plan.updateConfig) add("apply changed program definitions (--update-config)");
  if (plan.batches === null) {
    add("restart the selected programs (unknown: supervisord was not reached)");
  } else if (plan.batches.length === 0) {
    add("restart nothing (no selected program is running)");
  } else {
    const total = plan.batches.reduce((sum, batch) => sum + batch.length, 0);
    const how = plan.batches.length === 1
      ? "all at once"
      : `in ${plan.batches.length} batches of ${plan.batchSize}, each reaching RUNNING within ${
        formatDuration(plan.startTimeoutMs ?? 0)
      } before the next (a failure halts the rest)`;
    add(`restart ${total} program(s) ${how}:`);
    plan.batches.forEach((batch, index) => {
      const names = batch.map((t) => `${t.namespec} (${t.state}, pid ${t.pid})`).join(", ");
      lines.push(`       ${plan.batches!.length === 1 ? "-" : `batch ${index + 1}:`} ${names}`);
    });
  }
  if (plan.postRestart) add(`run the post-restart command ${hookText(plan.postRestart)}`);
  for (const skip of plan.skipped ?? []) {
    lines.push(`  leave alone: ${skip.namespec}: ${skip.reason}`);
  }
  if (plan.catchUp !== null) {
    lines.push(
      plan.catchUp.length === 0
        ? "At start (catch-up): nothing to restart; every target started after the version appeared"
        : `At start (catch-up): would restart ${
          plan.catchUp.join(", ")
        } (started before the version appeared)`,
    );
  }
  if (report.problems.length > 0) lines.push("Problems:", ...formatProblems(report.problems));
  return lines.join("\n");
}

export function versionLine(version: VersionSummary): string {
  const path = JSON.stringify(version.path);
  if (version.state !== "version") {
    return `${path}: ${version.state === "unreadable" ? version.reason : version.state}`;
  }
  const appeared = version.appearedAt ? `, appeared ${version.appearedAt}` : "";
  return `${path}: ${JSON.stringify(version.label)} (sha256 ${
    version.hash!.slice(0, 12)
  }${appeared})`;
}

function hookText(hook: PlannedHook): string {
  const where = hook.found === "executable" && hook.resolved
    ? `found ${hook.resolved}`
    : hook.found === "builtin"
    ? "a shell builtin"
    : hook.found;
  return `${JSON.stringify(hook.command)} (${where}; timeout ${formatDuration(hook.timeoutMs)})`;
}
