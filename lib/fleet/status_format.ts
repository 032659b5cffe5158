/**
 * Renders a {@linkcode RolloutStatus} for an operator: a text table, or JSON for scripts. Pure.
 *
 * ```text
 * Fleet "web", version "v42" (3f9a0c1d2e4b)
 * HALTED: host "web-3" reported failed: web:app: SPAWN_ERROR (by web-3 at 2026-01-01T00:00:05.000Z)
 * Hosts: 2 done, 1 failed, 0 restarting, 3 waiting, 1 skipped; slots held: web-4
 *
 * HOST   STATE       OUTCOME  SINCE                     DETAIL
 * web-1  done        success  2026-01-01T00:00:01.000Z
 * ```
 *
 * Host ids, labels and details come from every host of the fleet: control characters are escaped
 * and long details shortened, so one odd host cannot garble the table.
 *
 * @module
 */
import type { HostRecord, RolloutStatus } from "./fleet.ts";

/** Longest detail shown in the table, in code points. */
const MAX_DETAIL_CHARS = 120;
const STATES: readonly HostRecord["state"][] = [
  "done",
  "failed",
  "restarting",
  "waiting",
  "skipped",
];
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Hosts per state. */
export type StateCounts = Record<HostRecord["state"], number>;

/** Counts the hosts of `status` per state. */
export function countStates(status: RolloutStatus): StateCounts {
  const counts: StateCounts = { done: 0, failed: 0, restarting: 0, waiting: 0, skipped: 0 };
  for (const host of status.hosts) counts[host.state]++;
  return counts;
}

/** The status as an operator-readable text table (no trailing newline). */
export function formatStatusText(status: RolloutStatus): string {
  const group = _quote(status.group);
  if (status.version === null) {
    return `Fleet ${group}: no rollout recorded yet; slots held: ${_list(status.slots)}`;
  }
  const lines = [
    `Fleet ${group}, version ${_quote(status.version.label)} (${_safe(status.version.hash)})`,
  ];
  if (status.halted !== null) {
    const { reason, by, at } = status.halted;
    lines.push(`HALTED: ${_safe(reason)} (by ${_safe(by)} at ${_time(at)})`);
  } else {
    lines.push("Not halted");
  }
  const counts = countStates(status);
  const summary = STATES.map((state) => `${counts[state]} ${state}`).join(", ");
  lines.push(`Hosts: ${summary}; slots held: ${_list(status.slots)}`);
  if (status.hosts.length === 0) return lines.join("\n");
  const rows = [
    ["HOST", "STATE", "OUTCOME", "SINCE", "DETAIL"],
    ...status.hosts.map((host) => [
      _safe(host.hostId),
      host.state,
      _safe(host.outcome ?? "-"),
      _time(host.at),
      _shorten(_safe(host.detail)),
    ]),
  ];
  const widths = [0, 1, 2, 3].map((column) =>
    Math.max(...rows.map((row) => [...(row[column] ?? "")].length))
  );
  lines.push("");
  for (const row of rows) {
    const cells = row.map((cell, column) => {
      const width = widths[column];
      return width === undefined ? cell : cell + " ".repeat(width - [...cell].length);
    });
    lines.push(cells.join("  ").trimEnd());
  }
  return lines.join("\n");
}

/** The status as JSON (two-space indent), with per-state counts added. */
export function formatStatusJson(status: RolloutStatus): string {
  return JSON.stringify({ ...status, counts: countStates(status) }, null, 2);
}

function _list(hosts: readonly string[]): string {
  return hosts.length === 0 ? "none" : hosts.map(_safe).join(", ");
}

function _time(ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : "-";
}

function _quote(text: string): string {
  return `"${_safe(text).replaceAll('"', '\\"')}"`;
}

function _safe(text: string): string {
  return text.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function _shorten(text: string): string {
  const chars = [...text];
  return chars.length <= MAX_DETAIL_CHARS
    ? text
    : `${chars.slice(0, MAX_DETAIL_CHARS - 1).join("")}…`;
}
