/**
 * One restart for one version: plan the targets from supervisord's live process list, then
 * restart them all at once, or in batches (`--batch-size`/`--rolling`) where each batch must
 * reach RUNNING (and ready, with `--ready-check`/`--ready-url`) before the next and the first
 * failure halts the rollout. `--dry-run` plans and logs only.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import { getLogger } from "./logger.ts";
import {
  applyConfigUpdate,
  type ConfigResult,
  logConfigDryRun,
  logConfigPlan,
  planConfigUpdate,
} from "./config_update.ts";
import { SupervisorFault } from "./errors.ts";
import { awaitReady, describeReadiness, type ReadinessSettings } from "./readiness.ts";
import type { ProgramFailure, RestartReport } from "./restart_report.ts";
import { restartPrograms } from "./restart.ts";
import { planRestart, type SelfIdentity, type TargetSelection } from "./restart_plan.ts";
import type { ProcessInfo, SupervisorClient } from "./supervisor/client.ts";

const log = getLogger(["releasemon", "rollout"]);

export interface RolloutOptions {
  selection: TargetSelection;
  self: SelfIdentity;
  /** Programs per batch; null restarts every target at once. */
  batchSize: number | null;
  startTimeoutMs: number;
  dryRun: boolean;
  /** Apply changed program definitions first (lib/config_update.ts). */
  updateConfig?: boolean;
  /** Restrict to these namespecs (catch-up). */
  only?: readonly string[] | undefined;
  /** Label of the version, raw, for log lines (lib/log.ts quotes it). */
  versionLabel: string;
  signal: AbortSignal;
  /** Paces polls and measures timeouts. @default monotonicClock */
  clock?: Clock | undefined;
  /** Readiness checks for programs once RUNNING again; null or absent: RUNNING is enough. */
  readiness?: ReadinessSettings | null | undefined;
}

/** Splits `items` into batches of `size` (all in one batch when size is null). */
export function batches<T>(items: readonly T[], size: number | null): T[][] {
  if (items.length === 0) return [];
  if (size === null || size >= items.length) return [[...items]];
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/** Plans and performs the restart; supervisord being unreachable before anything was stopped throws. */
export async function rollOut(
  client: SupervisorClient,
  options: RolloutOptions,
): Promise<RestartReport> {
  const infos = await client.getAllProcessInfo();
  const plan = planRestart(infos, options.selection, options.self);
  const only = options.only ? new Set(options.only) : null;
  const targets = only ? plan.restart.filter((i) => only.has(i.namespec)) : plan.restart;
  for (const name of plan.unknown) {
    log.error("No program matches {name}; nothing restarted for it (check the name)", { name });
  }
  for (const skip of plan.skipped) log.info("Not restarting {namespec}: {reason}", skip);
  const report: RestartReport = {
    restarted: [],
    failed: [],
    skipped: plan.skipped,
    unknown: plan.unknown,
  };
  let remaining = targets;
  if (options.updateConfig && !options.only) {
    const step = await configStep(client, infos, options);
    if (step.error !== undefined) return { ...report, error: step.error };
    if (step.result) {
      const { recreated, added, removed, failed, handled } = step.result;
      report.config = { recreated, added, removed };
      report.restarted.push(...recreated, ...added);
      report.failed.push(...failed);
      markNotReady(report, await readyStage(client, [...recreated, ...added], options));
      remaining = targets.filter((info) => !handled.has(info.namespec));
      if (report.failed.length > 0 && options.batchSize !== null && remaining.length > 0) {
        return halt(report, remaining.map((i) => i.namespec), options.versionLabel);
      }
    }
  }
  const groups = batches(remaining, options.batchSize);
  if (options.dryRun) {
    logDryRun(remaining, groups, options);
    return report;
  }
  log.info("Restarting {count} program(s) for version {version}{batching}: {programs}", {
    count: remaining.length,
    version: options.versionLabel,
    batching: groups.length > 1 ? ` in ${groups.length} batches` : "",
    programs: remaining.map((i) => i.namespec),
  });
  for (const [index, batch] of groups.entries()) {
    if (groups.length > 1) {
      log.info("Batch {n}/{total}: {programs}", {
        n: index + 1,
        total: groups.length,
        programs: batch.map((i) => i.namespec),
      });
    }
    const result = await restartPrograms(client, batch, {
      startTimeoutMs: options.startTimeoutMs,
      signal: options.signal,
      ...(options.clock ? { clock: options.clock } : {}),
    });
    report.restarted.push(...result.restarted);
    markNotReady(report, await readyStage(client, result.restarted, options));
    const rest = groups.slice(index + 1).flat().map((i) => i.namespec);
    if (options.signal.aborted) {
      // Stopping (SIGTERM): programs still starting are not failures, and nothing more starts.
      report.failed.push(...result.failed);
      report.untouched = [...result.pending, ...rest];
      log.warning("Stopped during the restart; not RUNNING yet or not restarted: {untouched}", {
        untouched: report.untouched,
      });
      break;
    }
    report.failed.push(
      ...result.failed,
      ...result.pending.map((namespec) => ({
        namespec,
        reason: "start requested; not RUNNING yet",
      })),
    );
    if (rest.length === 0) break;
    if (report.failed.length > 0) return halt(report, rest, options.versionLabel);
  }
  return report;
}

/**
 * Checks the readiness of `namespecs` (just seen RUNNING), all at once; the ones not ready in
 * time. Nothing to check without readiness settings, or when releasemon is stopping.
 */
async function readyStage(
  client: SupervisorClient,
  namespecs: readonly string[],
  options: RolloutOptions,
): Promise<ProgramFailure[]> {
  const settings = options.readiness;
  if (!settings || namespecs.length === 0 || options.signal.aborted) return [];
  let infos: readonly ProcessInfo[] = [];
  try {
    infos = await client.getAllProcessInfo();
  } catch (error) {
    log.warning("Cannot read the new pids for the readiness checks: {error}", {
      error: error instanceof Error ? error.message : String(error),
    });
  }
  const targets = namespecs.map((namespec) => {
    const info = infos.find((i) => i.namespec === namespec);
    const [group, name] = namespec.includes(":") ? namespec.split(":", 2) : [namespec, namespec];
    return {
      namespec,
      name: info?.name ?? name!,
      group: info?.group ?? group!,
      pid: info && info.pid > 0 ? info.pid : null,
    };
  });
  const results = await awaitReady(targets, settings, {
    signal: options.signal,
    clock: options.clock,
  });
  return results.flatMap((r) => r.ready ? [] : [{ namespec: r.namespec, reason: r.reason! }]);
}

/** Programs RUNNING but not ready count as failed (and are listed in `notReady`). */
function markNotReady(report: RestartReport, notReady: readonly ProgramFailure[]): void {
  if (notReady.length === 0) return;
  const names = new Set(notReady.map((f) => f.namespec));
  report.restarted = report.restarted.filter((namespec) => !names.has(namespec));
  report.failed.push(...notReady);
  report.notReady = [...(report.notReady ?? []), ...names];
}

/** Stops a rolling rollout at its first failure: what is left keeps the previous release. */
function halt(report: RestartReport, rest: string[], versionLabel: string): RestartReport {
  report.halted = true;
  report.untouched = rest;
  log.error(
    `ROLLING RESTART HALTED for version {version}: {broken} did not reach RUNNING${
      report.notReady ? " or was not ready" : ""
    }; {count} program(s) left on the previous release: {untouched}`,
    {
      version: versionLabel,
      broken: report.failed.map((f) => `${f.namespec} (${f.reason})`).join(", "),
      count: rest.length,
      untouched: rest,
    },
  );
  return report;
}

/**
 * reloadConfig, plan, and apply; CANT_REREAD becomes `error`. A dry run never calls reloadConfig:
 * it replaces supervisord's idea of its configuration (what `supervisorctl update` would then
 * apply), so it only says what would be re-read.
 */
async function configStep(
  client: SupervisorClient,
  infos: readonly ProcessInfo[],
  options: RolloutOptions,
): Promise<{ error?: string; result?: ConfigResult }> {
  if (options.dryRun) {
    logConfigDryRun(await client.getAllConfigInfo(), options.selection, options.self);
    return {};
  }
  let changes;
  try {
    changes = await client.reloadConfig();
  } catch (error) {
    if (error instanceof SupervisorFault && error.faultName === "CANT_REREAD") {
      const reason = `supervisord cannot read its new configuration: ${error.faultString}`;
      log.error("Nothing restarted for version {version}: {reason}", {
        version: options.versionLabel,
        reason,
      });
      return { error: reason };
    }
    throw error;
  }
  const configured = await client.getAllConfigInfo();
  const plan = planConfigUpdate(changes, infos, configured, options.selection, options.self);
  logConfigPlan(plan);
  return {
    result: await applyConfigUpdate(client, plan, infos, configured, {
      startTimeoutMs: options.startTimeoutMs,
      signal: options.signal,
      ...(options.clock ? { clock: options.clock } : {}),
    }),
  };
}

function logDryRun(
  targets: readonly ProcessInfo[],
  groups: readonly ProcessInfo[][],
  options: RolloutOptions,
): void {
  log.info("Dry run: version {version} would restart {count} program(s){batching}; hooks not run", {
    version: options.versionLabel,
    count: targets.length,
    batching: groups.length > 1 ? ` in ${groups.length} batches of ${options.batchSize}` : "",
  });
  for (const info of targets) {
    log.info("Dry run: would restart {namespec} ({state}, pid {pid}){why}", {
      namespec: info.namespec,
      state: info.state,
      pid: info.pid,
      why: options.only ? ": started before this version appeared" : "",
    });
    if (options.readiness) {
      log.info("Dry run: would then check readiness of {namespec}: {check}", {
        namespec: info.namespec,
        check: describeReadiness(options.readiness, { ...info, pid: null }),
      });
    }
  }
}
