/**
 * The line that ends a restart: "applied" only when every target restarted, otherwise the
 * outcome's own word (`partial`, `failed`, `halted`) with what went wrong, at ERROR.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { outcomeOf, type VersionRef } from "./machine.ts";
import type { RestartReport } from "./restart_report.ts";

const log = getLogger(["releasemon", "run"]);

/** Logs the summary of `report` for `version`, which took `durationMs`. */
export function logSummary(version: VersionRef, report: RestartReport, durationMs: number): void {
  const outcome = outcomeOf(report);
  const why = report.error ?? report.fleetHalted;
  const unknown = report.unknown.length;
  const untouched = report.untouched?.length ?? 0;
  log[outcome === "success" ? "info" : "error"](
    `Version {version} {outcome}: ${why === undefined ? "" : "{why}; "}{restarted} restarted, ` +
      "{failed} failed, {skipped} skipped in {durationMs}" +
      (unknown > 0 ? "; no program matches {unknown}" : "") +
      (untouched > 0 ? "; not restarted: {untouched}" : ""),
    {
      version: version.label,
      outcome: outcome === "success" ? "applied" : outcome,
      ...(why === undefined ? {} : { why }),
      restarted: report.restarted.length,
      failed: report.failed.length,
      skipped: report.skipped.length,
      ...(unknown > 0 ? { unknown: report.unknown } : {}),
      ...(untouched > 0 ? { untouched: report.untouched } : {}),
      durationMs,
    },
  );
}
