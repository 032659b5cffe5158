/**
 * `deno task bench [--quick] [--only ID,...] [--sizes N,...]`: releasemon against a real
 * supervisord, next to the floor it cannot beat (a direct XML-RPC restart) in the same run.
 * Writes `bench-results/bench-<time>.md/.json` and `bench-results/latest.md/.json`, and prints
 * the Markdown.
 *
 * 1. detection latency, 2. restart overhead, 3. fan-out, 4. footprint (its idle window runs
 * alongside 1–3), 5. fleet, 6. readiness gating (`--rolling --ready-check`: ready → next stop). Each benchmark starts its own supervisord in `/tmp/rmbench-*` and always tears
 * it down; at the end the run checks that no such process or directory is left.
 *
 * A full run takes under 10 minutes, `--quick` under one (fewer writes, N up to 40, 10 s idle,
 * 100 restarts; the fleet rollout only with `--only fleet`). For investigating: `--only detection,overhead,fanout,footprint` runs a subset,
 * `--sizes 200` runs the fan-out at those N only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { benchDetection } from "./bench/detection.ts";
import { benchFanout } from "./bench/fanout.ts";
import { benchFleet } from "./bench/fleet.ts";
import { benchFootprint } from "./bench/footprint.ts";
import { describeMachine, machineLines } from "./bench/machine.ts";
import { benchOverhead } from "./bench/overhead.ts";
import { benchReadiness } from "./bench/readiness.ts";
import { goalsOf, type RunResult, toMarkdown, writeResults } from "./bench/report.ts";
import type { BenchOptions, Section } from "./bench/section.ts";
import { say } from "./bench/support.ts";
import { benchProcesses, TEMP_PREFIX } from "./bench/supervisord.ts";

const USAGE = "usage: deno task bench [--quick] [--only ID,...] [--sizes N,...]";
const RESULTS_DIR = fileURLToPath(new URL("../bench-results", import.meta.url));
/** The benchmarks that run while footprint's idle window is open, in order. */
const DURING_IDLE = {
  detection: benchDetection,
  overhead: benchOverhead,
  fanout: benchFanout,
  readiness: benchReadiness,
} as const;
const IDS = [...Object.keys(DURING_IDLE), "footprint", "fleet"];
/** Left out of `--quick` unless named with `--only`: the fleet rollout, the readiness rollouts. */
const NOT_QUICK = ["fleet", "readiness"];

interface CommandLine {
  quick: boolean;
  only: string[];
  fanoutSizes?: number[];
}

function parseCommandLine(args: string[]): CommandLine {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      sizes: { type: "string" },
    },
  });
  // The fleet rollout (20 hosts) alone takes ~2.5 minutes: in the full run only, or on request.
  const only = values.only?.split(",") ??
    (values.quick ? IDS.filter((id) => !NOT_QUICK.includes(id)) : IDS);
  const unknown = only.filter((id) => !IDS.includes(id));
  if (unknown.length > 0) {
    throw new RangeError(`--only "${unknown.join(",")}": expected some of ${IDS.join(",")}`);
  }
  const line: CommandLine = { quick: values.quick ?? false, only };
  if (values.sizes !== undefined) {
    const sizes = values.sizes.split(",").map(Number);
    if (!sizes.every((n) => Number.isInteger(n) && n > 0)) {
      throw new RangeError(`--sizes "${values.sizes}": expected positive integers`);
    }
    line.fanoutSizes = sizes;
  }
  return line;
}

async function timed(run: () => Promise<Section>): Promise<Section> {
  const started = performance.now();
  const section = await run();
  section.seconds = (performance.now() - started) / 1000;
  return section;
}

/** Runs the selected benchmarks; footprint (when selected) holds its idle window open meanwhile. */
async function runBenchmarks(options: BenchOptions, only: string[]): Promise<Section[]> {
  const sections: Section[] = [];
  const others = async () => {
    for (const [id, bench] of Object.entries(DURING_IDLE)) {
      if (only.includes(id)) sections.push(await timed(() => bench(options)));
    }
  };
  if (only.includes("footprint")) sections.push(await timed(() => benchFootprint(options, others)));
  else await others();
  if (only.includes("fleet")) {
    // The fleet rollout starts 20 supervisords; on a loaded machine one may not come up in time.
    // Keep the figures of 1–4 then: report the failure as the fleet section's note.
    sections.push(
      await timed(() =>
        fleetSection(options).catch((error): Section => {
          if (options.signal.aborted) throw error;
          const why = error instanceof Error ? error.message : String(error);
          options.progress(`  fleet: failed: ${why}`);
          return {
            id: "fleet",
            title: "5. Fleet rollout (Redis)",
            method: [],
            tables: [],
            goals: [],
            notes: [`The fleet rollout did not run to its end: ${why}`],
            data: { error: why },
          };
        })
      ),
    );
  }
  return sections;
}

/** Issue 8's figures: 20 hosts (quick: 6) rolling out through Redis at several --fleet-max. */
async function fleetSection(options: BenchOptions): Promise<Section> {
  const { markdown, json } = await benchFleet({
    quick: options.quick,
    signal: options.signal,
    progress: options.progress,
  });
  return {
    id: "fleet",
    title: "5. Fleet rollout (Redis)",
    method: [],
    tables: [],
    goals: [],
    notes: [],
    markdown: markdown.replace(/^#+ .*\n/, ""),
    data: { fleet: json },
  };
}

/** What is left of the bench's supervisords: their processes and `rmbench-*` temp dirs. */
async function leftovers(): Promise<string[]> {
  const found = (await benchProcesses()).map((line) => `process ${line}`);
  for await (const entry of Deno.readDir("/tmp")) {
    if (entry.name.startsWith(TEMP_PREFIX)) found.push(`directory /tmp/${entry.name}`);
  }
  return found;
}

async function main(): Promise<number> {
  let line: CommandLine;
  try {
    line = parseCommandLine(Deno.args);
  } catch (error) {
    say(`${USAGE}\nbench: error: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error("Interrupted; tearing down"));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const before = await leftovers();
  if (before.length > 0) {
    say(`Note: left over from an earlier run (not this one's):\n  ${before.join("\n  ")}`);
  }

  const startedAt = new Date().toISOString();
  const started = performance.now();
  const machine = await describeMachine();
  const mode = line.quick ? "quick" : "full";
  say(`releasemon benchmark (${mode}), ${startedAt}`);
  for (const text of machineLines(machine)) say(text);
  const options: BenchOptions = {
    quick: line.quick,
    signal: controller.signal,
    progress: say,
    ...(line.fanoutSizes ? { fanoutSizes: line.fanoutSizes } : {}),
  };
  let sections: Section[];
  try {
    sections = await runBenchmarks(options, line.only);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  const left = (await leftovers()).filter((item) => !before.includes(item));
  const result: RunResult = {
    startedAt,
    mode,
    partial: line.only.length < (line.quick ? IDS.length - NOT_QUICK.length : IDS.length) ||
        line.fanoutSizes
      ? [
        line.only.join(", "),
        ...(line.fanoutSizes ? [`fan-out N = ${line.fanoutSizes.join(", ")}`] : []),
      ].join("; ")
      : null,
    seconds,
    limitSeconds: line.quick ? 60 : 600,
    machine,
    loadAverageAtEnd: Deno.loadavg(),
    sections,
    teardown: left.length === 0
      ? `no ${TEMP_PREFIX}* supervisord, child or temp dir left`
      : `LEFT OVER: ${left.join("; ")}`,
  };
  const files = await writeResults(result, RESULTS_DIR);
  say("");
  say(toMarkdown(result));
  say(`Wrote ${files.join(" and ")}${result.partial ? "" : " (and latest.md/.json)"}`);
  const missed = goalsOf(result).filter((goal) => !goal.pass);
  say(missed.length === 0 ? "All goals met." : `${missed.length} goal(s) missed: see the table.`);
  return left.length === 0 ? 0 : 1;
}

Deno.exit(await main());
