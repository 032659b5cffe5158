/**
 * The run's results as Markdown (for people) and JSON (for tools), written under
 * `bench-results/` as `bench-<time>.md/.json` and `latest.md/.json`.
 *
 * @module
 */
import { type Machine, machineLines } from "./machine.ts";
import type { Goal, Section, Table } from "./section.ts";

export interface RunResult {
  startedAt: string;
  mode: "full" | "quick";
  /** The benchmarks run, when `--only` picked a subset (or `--sizes` narrowed the fan-out). */
  partial: string | null;
  /** Wall-clock seconds of the whole run. */
  seconds: number;
  /** The bound the issue sets for this mode. */
  limitSeconds: number;
  machine: Machine;
  loadAverageAtEnd: number[];
  sections: Section[];
  /** What the teardown check found (no supervisord, no temp dir left). */
  teardown: string;
}

export function goalsOf(result: RunResult): Goal[] {
  return result.sections.flatMap((section) => section.goals);
}

function markdownTable(table: Table): string[] {
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  return [
    `| ${table.headers.map(escape).join(" | ")} |`,
    `|${table.headers.map(() => "---").join("|")}|`,
    ...table.rows.map((row) => `| ${row.map(escape).join(" | ")} |`),
  ];
}

export function toMarkdown(result: RunResult): string {
  const goals = goalsOf(result);
  const lines = [
    `# releasemon benchmark, ${result.mode} run${
      result.partial ? ` (partial: ${result.partial})` : ""
    }, ${result.startedAt}`,
    "",
    ...machineLines(result.machine).map((line) => `- ${line}`),
    `- Load average at end: ${result.loadAverageAtEnd.map((l) => l.toFixed(2)).join(", ")}`,
    `- Run time: ${result.seconds.toFixed(1)} s (bound: ${result.limitSeconds} s); ` +
    result.sections.map((s) => `${s.id} ${(s.seconds ?? 0).toFixed(1)} s`).join(", ") +
    " (footprint's idle window overlaps 1–3)",
    `- Teardown: ${result.teardown}`,
    "",
    "## Goals",
    "",
    ...markdownTable({
      headers: ["goal", "target", "measured", "result"],
      rows: goals.map((g) => [g.name, g.target, g.measured, g.pass ? "PASS" : "**MISS**"]),
    }),
  ];
  for (const section of result.sections) {
    lines.push("", `## ${section.title}`, "");
    for (const table of section.tables) lines.push(...markdownTable(table), "");
    if (section.markdown) lines.push(section.markdown.trim(), "");
    for (const paragraph of section.method) lines.push(`- ${paragraph}`);
    for (const note of section.notes) lines.push(`- **Note:** ${note}`);
  }
  return lines.join("\n") + "\n";
}

/** `2026-11-25T17-02-03Z`: sortable, and no colon in a file name. */
export function fileStamp(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z").replaceAll(":", "-");
}

/** Writes the timestamped pair and, unless partial, `latest.md/.json`; returns the pair. */
export async function writeResults(result: RunResult, dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const markdown = toMarkdown(result);
  const json = JSON.stringify({ ...result, goals: goalsOf(result) }, null, 2) + "\n";
  const suffix = `${result.mode === "quick" ? "-quick" : ""}${result.partial ? "-partial" : ""}`;
  const base = `${dir}/bench-${fileStamp(result.startedAt)}${suffix}`;
  await Deno.writeTextFile(`${base}.md`, markdown);
  await Deno.writeTextFile(`${base}.json`, json);
  if (!result.partial) {
    await Deno.writeTextFile(`${dir}/latest.md`, markdown);
    await Deno.writeTextFile(`${dir}/latest.json`, json);
  }
  return [`${base}.md`, `${base}.json`];
}
