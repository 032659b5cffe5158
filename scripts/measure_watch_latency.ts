/**
 * Measures how long a deploy write takes to become a VersionSeen, and how many inotify watches a
 * path with two symlinks costs.
 *
 *     deno run --allow-all scripts/measure_watch_latency.ts [--writes 60] [--pause-ms 300]
 *
 * Half the writes are write-temp-then-rename, half in place, alternating, each followed by a
 * pause longer than settleMs so that every write is a lone write (not part of a burst). Uses a
 * temp directory under /tmp and removes it.
 */

import { parseArgs } from "node:util";
import { VersionWatcher, type WatchEvent } from "../lib/watch/watcher.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    writes: { type: "string", default: "60" },
    "pause-ms": { type: "string", default: "300" },
  },
});
const writes = Number(values.writes);
const pauseMs = Number(values["pause-ms"]);
if (!Number.isInteger(writes) || writes < 2 || !Number.isFinite(pauseMs) || pauseMs < 0) {
  throw new RangeError(
    `Cannot measure "${values.writes}" writes with "${values["pause-ms"]}" ms pauses`,
  );
}

const encoder = new TextEncoder();
const print = (text: string) => Deno.stdout.writeSync(encoder.encode(`${text}\n`));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The value at quantile `q` (nearest rank) of `sorted`. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function summary(name: string, latencies: number[]): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  return `${name.padEnd(16)} n=${String(sorted.length).padStart(3)}  median ${
    ms(quantile(sorted, 0.5))
  }  p95 ${ms(quantile(sorted, 0.95))}  max ${ms(sorted[sorted.length - 1] ?? Number.NaN)}`;
}

async function measureLatency(dir: string): Promise<void> {
  const path = `${dir}/VERSION`;
  await Deno.writeTextFile(path, "v0\n");
  const waiting = new Map<string, (at: number) => void>();
  const onEvent = (event: WatchEvent) => {
    if (event.type === "VersionSeen") waiting.get(event.version.label)?.(performance.now());
  };
  await using watcher = new VersionWatcher(path);
  await watcher.start(onEvent);
  const results: Record<"rename" | "in-place", number[]> = { rename: [], "in-place": [] };
  for (let i = 1; i <= writes; i++) {
    const style = i % 2 === 0 ? "in-place" : "rename";
    const label = `v${i}`;
    const seen = new Promise<number>((resolve) => waiting.set(label, resolve));
    const timeout = setTimeout(() => waiting.get(label)?.(Number.NaN), 10_000);
    const start = performance.now();
    if (style === "rename") {
      await Deno.writeTextFile(`${dir}/.VERSION.tmp`, `${label}\n`);
      await Deno.rename(`${dir}/.VERSION.tmp`, path);
    } else {
      await Deno.writeTextFile(path, `${label}\n`);
    }
    const at = await seen;
    clearTimeout(timeout);
    waiting.delete(label);
    if (Number.isNaN(at)) throw new Error(`Cannot measure write ${label}: no VersionSeen in 10 s`);
    results[style].push(at - start);
    await sleep(pauseMs);
  }
  print(`write -> VersionSeen latency (${writes} writes, ${pauseMs} ms apart, default settle)`);
  print(summary("temp + rename", results.rename));
  print(summary("in place", results["in-place"]));
  print(summary("all", [...results.rename, ...results["in-place"]]));
}

async function watchCount(dir: string, layout: "configmap" | "current+link"): Promise<number> {
  let path: string;
  if (layout === "configmap") {
    await Deno.mkdir(`${dir}/cfg/..2026_11_25_10_00_00.1`, { recursive: true });
    await Deno.writeTextFile(`${dir}/cfg/..2026_11_25_10_00_00.1/VERSION`, "v1\n");
    await Deno.symlink("..2026_11_25_10_00_00.1", `${dir}/cfg/..data`);
    await Deno.symlink("..data/VERSION", `${dir}/cfg/VERSION`);
    path = `${dir}/cfg/VERSION`;
  } else {
    await Deno.mkdir(`${dir}/app/releases/1`, { recursive: true });
    await Deno.mkdir(`${dir}/app/shared`);
    await Deno.writeTextFile(`${dir}/app/shared/VERSION`, "v1\n");
    await Deno.symlink("../../shared/VERSION", `${dir}/app/releases/1/VERSION`);
    await Deno.symlink("releases/1", `${dir}/app/current`);
    path = `${dir}/app/current/VERSION`;
  }
  await using watcher = new VersionWatcher(path);
  await watcher.start(() => {});
  return watcher.watchCount;
}

const dir = await Deno.makeTempDir({ prefix: "rm-measure-" });
try {
  await measureLatency(dir);
  print("");
  print("inotify watches for a path with two symlinks");
  print(
    `ConfigMap (VERSION -> ..data/VERSION, ..data -> ..ts)     ${await watchCount(
      dir,
      "configmap",
    )}`,
  );
  print(
    `current -> releases/1, releases/1/VERSION -> shared/VERSION ${await watchCount(
      dir,
      "current+link",
    )}`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
