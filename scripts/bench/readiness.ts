/**
 * Readiness gating: in a `--rolling --ready-check` rollout, the time from a program becoming
 * ready (its own clock, when it wrote its ready file) to the next program's stop (that program's
 * own clock, when its SIGTERM arrived). Issue 17's goal: at most one `--ready-interval` plus 20 ms.
 *
 * @module
 */
import type { BenchOptions, Section } from "./section.ts";
import { fixed, stats } from "./support.ts";
import { startBenchSupervisord } from "./supervisord.ts";
import { rollOut } from "../../lib/rollout.ts";

const NAMES = ["r1", "r2", "r3", "r4"];
const INTERVAL_MS = 500;

// Ready a random 0.2 to 0.7 s after it starts: writes "<pid> <ns>" into $1.ready; appends the
// time SIGTERM arrives to $1.stops (`wait` is interrupted by the trap at once), and takes its
// sleep along.
const WORKER_SH = `#!/bin/sh
rm -f "$1.ready"
trap 'date +%s%N >> "$1.stops"; kill "$child" 2>/dev/null; exit 0' TERM
sleep "$(awk -v s="$$" 'BEGIN { srand(s); printf "%.3f", 0.2 + rand() * 0.5 }')" &
child=$!
wait "$child"
echo "$$ $(date +%s%N)" > "$1.tmp" && mv "$1.tmp" "$1.ready"
sleep 3600 &
child=$!
wait "$child"
`;

export async function benchReadiness(options: BenchOptions): Promise<Section> {
  const rounds = options.quick ? 3 : 10;
  await using sv = await startBenchSupervisord({
    files: { "worker.sh": WORKER_SH },
    programs: NAMES.map((name) => ({
      name,
      command: `sh %(here)s/worker.sh %(here)s/${name}`,
      options: { startsecs: 0, stopwaitsecs: 5 },
    })),
    groups: { pool: NAMES },
  });
  const client = sv.benchClient();
  const check = `read p t < ${sv.dir}/$RELEASEMON_PROGRAM_NAME.ready 2>/dev/null && ` +
    `test "$p" = "$RELEASEMON_PROGRAM_PID"`;
  const lastNumber = async (path: string, field: number) => {
    const lines = (await Deno.readTextFile(path)).trim().split("\n");
    return Number(BigInt(lines.at(-1)!.split(" ")[field]!) / 1_000n) / 1_000;
  };
  const gaps: number[] = [];
  for (let round = 0; round < rounds; round++) {
    options.signal.throwIfAborted();
    const report = await rollOut(client, {
      selection: { programs: [], groups: ["pool"], any: false, runningOnly: false },
      self: { pid: -1, processName: null, groupName: null },
      batchSize: 1,
      startTimeoutMs: 30_000,
      dryRun: false,
      versionLabel: `"r${round}"`,
      signal: options.signal,
      readiness: { check, url: null, intervalMs: INTERVAL_MS, timeoutMs: 30_000, env: {} },
    });
    if (report.failed.length > 0) {
      throw new Error(`Readiness bench: ${JSON.stringify(report.failed)}`);
    }
    for (let i = 0; i + 1 < NAMES.length; i++) {
      const ready = await lastNumber(`${sv.dir}/${NAMES[i]}.ready`, 1);
      const stop = await lastNumber(`${sv.dir}/${NAMES[i + 1]}.stops`, 0);
      gaps.push(stop - ready);
    }
    options.progress(`readiness: round ${round + 1}/${rounds}`);
  }
  const s = stats(gaps);
  const target = INTERVAL_MS + 20;
  return {
    id: "readiness",
    title: "6. Readiness gating (--rolling --ready-check)",
    method: [
      `${rounds} rolling rollouts of 4 programs with \`--ready-check\` and \`--ready-interval ` +
      `0.5\` (rollOut in-process against a real supervisord). Each program gets ready a random ` +
      `0.2 to 0.7 s after it starts and writes the time; each records when its SIGTERM arrives. ` +
      `Measured: program i ready → program i+1's SIGTERM, ${gaps.length} samples.`,
    ],
    tables: [{
      headers: ["samples", "median ms", "p95 ms", "min ms", "max ms"],
      rows: [[
        String(s.n),
        fixed(s.median),
        fixed(s.p95),
        fixed(s.min),
        fixed(s.max),
      ]],
    }],
    goals: [{
      name: "ready → next batch's stop",
      target: `≤ ${target} ms (one --ready-interval + 20 ms)`,
      measured: `max ${fixed(s.max)} ms`,
      pass: s.max <= target,
    }],
    notes: [],
    data: { gapsMs: gaps, intervalMs: INTERVAL_MS, rounds },
  };
}
