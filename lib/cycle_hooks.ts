/**
 * The pre- and post-restart steps of a cycle: what the commands are told (lib/hooks.ts builds
 * the environment and runs them) and the machine event their result becomes.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import type { Config } from "./config.ts";
import { formatDuration } from "./delay.ts";
import { type HookContext, hookEnvironment, type PostHookOutcome, runHook } from "./hooks.ts";
import type { Cycle, MachineCommand, MachineEvent } from "./machine.ts";
import type { ReadinessSettings } from "./readiness.ts";
import { planRestart, type SelfIdentity, type TargetSelection } from "./restart_plan.ts";
import type { SupervisorClient } from "./supervisor/client.ts";

const log = getLogger(["releasemon", "run"]);

export interface HookSetting {
  config: Config;
  client: SupervisorClient;
  self: SelfIdentity;
  selection: TargetSelection;
  signal: AbortSignal;
}

function contextOf(setting: HookSetting, cycle: Cycle, programs: string[]): HookContext {
  return {
    version: { label: cycle.version.label, hash: cycle.version.hash },
    previous: cycle.previous ? { label: cycle.previous.label, hash: cycle.previous.hash } : null,
    versionFile: setting.config.versionFile,
    programs,
  };
}

/** Targets as planned right now, for the pre-restart command; empty when supervisord is down. */
async function plannedNamespecs(setting: HookSetting, cycle: Cycle): Promise<string[]> {
  try {
    const infos = await setting.client.getAllProcessInfo();
    const planned = planRestart(infos, setting.selection, setting.self).restart
      .map((i) => i.namespec);
    return cycle.only ? planned.filter((n) => cycle.only!.includes(n)) : planned;
  } catch {
    return [];
  }
}

/** Runs the pre-restart command; a non-zero exit or a timeout aborts the cycle. */
export async function runPreHook(setting: HookSetting, cycle: Cycle): Promise<MachineEvent> {
  const { config } = setting;
  const programs = await plannedNamespecs(setting, cycle);
  const env = hookEnvironment("pre", contextOf(setting, cycle, programs));
  const result = await runHook("pre", config.preRestart!, env, {
    timeoutMs: config.hookTimeoutMs,
    signal: setting.signal,
  });
  if (result.ok) return { type: "PreHookDone", ok: true };
  const reason = result.timedOut
    ? `pre-restart command timed out after ${formatDuration(config.hookTimeoutMs)}`
    : `pre-restart command exited with ${result.exitCode ?? result.signal ?? "an error"}`;
  return { type: "PreHookDone", ok: false, reason };
}

/** Runs the post-restart command with the outcome; its failure does not undo the restart. */
export async function runPostHook(
  setting: HookSetting,
  command: Extract<MachineCommand, { type: "RunPostHook" }>,
): Promise<MachineEvent> {
  const report = command.report;
  const outcome: PostHookOutcome = {
    outcome: command.outcome,
    restarted: report?.restarted ?? [],
    failed: report?.failed ?? [],
    untouched: report?.untouched ?? [],
    notReady: report?.notReady ?? [],
    ...(report?.config ? { config: report.config } : {}),
    ...(command.reason === undefined ? {} : { reason: command.reason }),
  };
  const programs = report ? [...report.restarted, ...report.failed.map((f) => f.namespec)] : [];
  const env = hookEnvironment("post", contextOf(setting, command.cycle, programs), outcome);
  const result = await runHook("post", setting.config.postRestart!, env, {
    timeoutMs: setting.config.hookTimeoutMs,
    signal: setting.signal,
  });
  if (!result.ok) {
    log.warning("Post-restart command failed ({detail}); the restart itself is done", {
      detail: result.timedOut ? "timed out" : `exit ${result.exitCode ?? result.signal}`,
    });
  }
  return { type: "PostHookDone" };
}

/** `--ready-check`/`--ready-url` for a cycle (null: none); a check gets the hook environment. */
export function readinessFor(config: Config, cycle: Cycle): ReadinessSettings | null {
  if (config.readyCheck === null && config.readyUrl === null) return null;
  const context: HookContext = {
    version: { label: cycle.version.label, hash: cycle.version.hash },
    previous: cycle.previous ? { label: cycle.previous.label, hash: cycle.previous.hash } : null,
    versionFile: config.versionFile,
    programs: [],
  };
  return {
    check: config.readyCheck,
    url: config.readyUrl,
    intervalMs: config.readyIntervalMs,
    timeoutMs: config.readyTimeoutMs,
    env: hookEnvironment("ready", context),
  };
}
