/**
 * What each benchmark hands to the report: a table, its goals with PASS/MISS, how it measured,
 * and the raw numbers for the JSON file.
 *
 * @module
 */

/** One goal of the issue, judged on this run's numbers. */
export interface Goal {
  name: string;
  /** The goal as written, e.g. `≤ 20 ms median`. */
  target: string;
  /** What this run measured, for humans. */
  measured: string;
  pass: boolean;
}

export interface Table {
  headers: string[];
  rows: string[][];
}

export interface Section {
  id: string;
  title: string;
  /** How it was measured and why that way: one paragraph per entry. */
  method: string[];
  tables: Table[];
  goals: Goal[];
  /** Findings worth reading next to the numbers (outliers, where the time goes). */
  notes: string[];
  /** Ready-made Markdown (a benchmark that renders its own tables: the fleet). */
  markdown?: string;
  /** Raw samples and parameters, for the JSON file. */
  data: Record<string, unknown>;
  /** Wall-clock seconds this benchmark took, set by the runner. */
  seconds?: number;
}

/** Parameters that differ between a full run and `--quick`. */
export interface BenchOptions {
  quick: boolean;
  signal: AbortSignal;
  /** Progress lines (stdout). */
  progress: (text: string) => void;
  /** Fan-out sizes to run instead of the mode's (`--sizes 200`, for investigating one N). */
  fanoutSizes?: number[];
}
