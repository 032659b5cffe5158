/**
 * `--check` and `--status` as main.ts runs them: probe, build the report, render it as text or
 * as one JSON document. Returns what to print on stdout and the exit status.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { SelfIdentity } from "../restart_plan.ts";
import { buildCheck, formatCheckText } from "./check.ts";
import { type Connection, probe } from "./probe.ts";
import { buildStatus, formatStatusText } from "./status.ts";

export async function opsCommand(
  mode: "check" | "status",
  config: Config,
  connection: Connection,
  self: SelfIdentity,
): Promise<{ text: string; exitCode: number }> {
  const check = mode === "check";
  const facts = await probe(config, connection, { withHooks: check, withFleet: check });
  const json = config.logFormat === "json";
  if (check) {
    const report = buildCheck(config, facts, self);
    return {
      text: json ? JSON.stringify(report) : formatCheckText(report),
      exitCode: report.exitCode,
    };
  }
  const report = buildStatus(config, facts, self);
  return {
    text: json ? JSON.stringify(report) : formatStatusText(report),
    exitCode: report.exitCode,
  };
}
