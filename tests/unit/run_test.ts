/**
 * run(): the loop around the state machine, driven end to end with a fake watcher, the fake
 * supervisor, an in-memory fleet and a fake clock. What it observes is what an operator would:
 * programs restarted (new pids), fleet records, and the loop's own phase changes (debug log).
 */
import { withLog } from "../support/log_capture.ts";
import { renderMessage } from "../../lib/log.ts";
import assert from "node:assert/strict";
import type { LogRecord } from "../../lib/logger.ts";
import type { Config } from "../../lib/config.ts";
import { parseConfig } from "../../lib/config.ts";
import { FleetCoordinator } from "../../lib/fleet/coordinator.ts";
import type { Fleet, FleetVersion, HostOutcome, SlotDecision } from "../../lib/fleet/fleet.ts";
import { MemoryFleet, MemoryFleetState } from "../support/memory_fleet.ts";
import { run } from "../../lib/run.ts";
import type { Version, VersionWatcher, WatchEvent } from "../../lib/watch/watcher.ts";
import { FakeClock } from "../support/fake_clock.ts";
import { FakeSupervisor } from "../support/fake_supervisor.ts";

const version = (label: string): Version => ({ hash: `hash-${label}`, label, size: 1 });
const A = version("A"), B = version("B"), C = version("C");

/** Stands in for VersionWatcher: the test says when a version is seen. */
class FakeWatcher {
  #onEvent: ((event: WatchEvent) => void) | null = null;
  constructor(readonly baseline: Version | null) {}
  start(onEvent: (event: WatchEvent) => void): Promise<Version | null> {
    this.#onEvent = onEvent;
    return Promise.resolve(this.baseline);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  see(version: Version): void {
    this.#onEvent!({ type: "VersionSeen", version });
  }
}

function config(argv: string[], overrides: Partial<Config> = {}): Config {
  const parsed = parseConfig(["--no-catch-up", ...argv], {}, { color: false });
  if (parsed.kind !== "run") throw new Error("expected a run configuration");
  return { ...parsed.config, ...overrides };
}

interface Host {
  supervisor: FakeSupervisor;
  watcher: FakeWatcher;
  stop(): Promise<void>;
}

/**
 * Starts run() for one host, logging into `records`; `stop()` ends it and waits until it has
 * settled (a test must call it).
 */
async function startHost(
  records: LogRecord[],
  cfg: Config,
  options: { clock: FakeClock; fleet?: Fleet; supervisor?: FakeSupervisor; hostId?: string },
): Promise<Host> {
  const supervisor = options.supervisor ?? new FakeSupervisor().add("web:web");
  const watcher = new FakeWatcher(A);
  const controller = new AbortController();
  const coordinator = options.fleet
    ? new FleetCoordinator(options.fleet, { onError: "wait", timeoutMs: 0 }, options.clock)
    : null;
  const before = records.length;
  const running = run(cfg, {
    client: supervisor.client(),
    watcher: watcher as unknown as VersionWatcher,
    self: { pid: 1, processName: "releasemon", groupName: "releasemon" },
    fleet: coordinator,
    clock: options.clock,
  }, controller.signal);
  await until(
    () => records.slice(before).some((r) => text(r).startsWith("Watching")),
    "the loop to start",
  );
  return {
    supervisor,
    watcher,
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

/** The rendered message of a record. */
const text = (record: LogRecord) => renderMessage(record);
const logged = (records: LogRecord[], pattern: RegExp) =>
  records.some((r) => pattern.test(text(r)));

/** Waits (in real time, under a deadline) for `condition`, letting promises and I/O run. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The loop's phase changes so far, as "from → to". */
const phases = (records: LogRecord[]) =>
  records.flatMap((r) =>
    typeof r.properties.from === "string" ? [`${r.properties.from} → ${r.properties.to}`] : []
  );
const count = (items: string[], item: string) => items.filter((i) => i === item).length;

const pidOf = (supervisor: FakeSupervisor, namespec = "web:web") =>
  supervisor.processes.get(namespec)!.pid;

const ARGV = ["/srv/app/.version", "web"];

Deno.test("run() applies the next version after the post-restart step throws", async () => {
  using clock = new FakeClock();
  // A hook timeout of 0 ms makes runHook() throw (RangeError) instead of running the command.
  const cfg = config([...ARGV, "--post-restart", "true"], { hookTimeoutMs: 0 });
  await withLog(async (records) => {
    const host = await startHost(records, cfg, { clock });
    try {
      const pidA = pidOf(host.supervisor);
      host.watcher.see(B);
      await until(() => count(phases(records), "post-restart → idle") === 1, "B's cycle to end");
      const pidB = pidOf(host.supervisor);
      assert.notEqual(pidB, pidA);
      host.watcher.see(C);
      await until(() => pidOf(host.supervisor) !== pidB, "C to be applied");
      await until(() => count(phases(records), "post-restart → idle") === 2, "C's cycle to end");
      assert.ok(
        logged(records, /Post-restart step for version .B. failed: Cannot use timeoutMs "0"/),
      );
      assert.ok(logged(records, /Version .C. applied: 1 restarted/));
    } finally {
      await host.stop();
    }
  });
});

Deno.test("run() aborts the cycle when the pre-restart step throws; the next version gets a cycle", async () => {
  using clock = new FakeClock();
  const cfg = config([...ARGV, "--pre-restart", "true"], { hookTimeoutMs: 0 });
  await withLog(async (records) => {
    const host = await startHost(records, cfg, { clock });
    try {
      const pidA = pidOf(host.supervisor);
      host.watcher.see(B);
      await until(() => count(phases(records), "pre-restart → idle") === 1, "B's cycle to end");
      host.watcher.see(C);
      await until(() => count(phases(records), "pre-restart → idle") === 2, "C's cycle to end");
      assert.ok(logged(records, /Version .B. aborted: pre-restart step failed: /));
      assert.ok(logged(records, /Version .C. aborted: pre-restart step failed: /));
      assert.equal(pidOf(host.supervisor), pidA); // programs left untouched
    } finally {
      await host.stop();
    }
  });
});

/** Two hosts, "a" and "b", of one in-memory fleet at --fleet-max 1. */
function fleetOf(clock: FakeClock) {
  const state = new MemoryFleetState();
  const make = (hostId: string) =>
    new MemoryFleet(state, { group: "web", hostId, maxParallel: 1, canary: 0, clock, pollMs: 100 });
  return { a: make("a"), b: make("b") };
}

const OK: HostOutcome = { outcome: "success", ok: true, detail: "" };

Deno.test("run() gives its fleet slot back while supervisord is unreachable; another host goes", async () => {
  using clock = new FakeClock();
  const fleet = fleetOf(clock);
  await withLog(async (records) => {
    const supervisor = new FakeSupervisor().add("web:web");
    const host = await startHost(records, config(ARGV), { clock, fleet: fleet.a, supervisor });
    try {
      const pidA = pidOf(supervisor);
      // supervisord goes away
      supervisor.failNext("supervisor.getAllProcessInfo", 1_000_000);
      supervisor.failNext("supervisor.getState", 1_000_000);
      host.watcher.see(B);
      await until(() => logged(records, /Fleet slot granted for version .B./), "a's slot");
      // b queues behind a; a cannot restart, gives its slot back, and b gets it.
      let decision: SlotDecision | null = null;
      const waiting = fleet.b.acquire(B, new AbortController().signal).then((d) => decision = d);
      await until(() => decision !== null, "b to get the slot a cannot use");
      await waiting;
      assert.deepEqual(decision, { kind: "go", canary: false });
      assert.deepEqual((await fleet.b.status()).slots, ["b"]);
      assert.ok(logged(records, /Released the fleet slot for version .B./));
      // a retries meanwhile without queueing (supervisord does not answer): b holds the only
      // slot, and a never takes it; b finishes; supervisord answers again.
      await clock.tickAsync(2_000);
      assert.deepEqual((await fleet.b.status()).slots, ["b"]);
      assert.equal(
        (await fleet.b.status(B.hash)).hosts.find((h) => h.hostId === "a")?.state,
        "waiting",
      );
      await fleet.b.finish(B, OK);
      supervisor.failNext("supervisor.getAllProcessInfo", 0);
      supervisor.failNext("supervisor.getState", 0);
      await until(async () => {
        await clock.tickAsync(500); // a's next retry
        return pidOf(supervisor) !== pidA;
      }, "a to queue again and restart");
      await until(
        () => logged(records, /Version .B. applied: 1 restarted/),
        "a's restart to finish",
      );
      await until(async () => {
        const hosts = (await fleet.a.status(B.hash)).hosts;
        return hosts.filter((h) => h.state === "done").length === 2;
      }, "both hosts' outcomes recorded");
    } finally {
      await host.stop();
      await fleet.a.close();
      await fleet.b.close();
    }
  });
});

Deno.test("run() waiting for a fleet slot sees v2 then v3 and applies only v3", async () => {
  using clock = new FakeClock();
  const fleet = fleetOf(clock);
  const V2 = version("v2"), V3 = version("v3");
  await withLog(async (records) => {
    const host = await startHost(records, config(ARGV), { clock, fleet: fleet.a });
    try {
      // b holds the only slot: a waits.
      assert.equal((await fleet.b.acquire(V2, new AbortController().signal)).kind, "go");
      const pidA = pidOf(host.supervisor);
      host.watcher.see(V2);
      await until(() => logged(records, /Waiting for a fleet slot for version .v2./), "a waits");
      host.watcher.see(V3);
      await until(() => logged(records, /Waiting for a fleet slot for version .v3./), "for v3");
      await fleet.b.finish(V2, OK);
      await until(() => logged(records, /Version .v3. applied: 1 restarted/), "v3 applied");
      await until(() => phases(records).at(-1) === "restarting → idle", "a's cycle to end");
      assert.equal(host.supervisor.calls.filter((c) => c === "supervisor.stopProcess").length, 1);
      assert.notEqual(pidOf(host.supervisor), pidA);
      assert.ok(!logged(records, /Version .v2. applied/));
      // a gave up its place for v2 without an outcome, and reported v3 only.
      const v2 = (await fleet.a.status(V2.hash)).hosts.find((h) => h.hostId === "a");
      assert.equal(v2?.outcome, null);
      await until(async () => {
        const v3 = (await fleet.a.status(V3.hash)).hosts.find((h) => h.hostId === "a");
        return v3?.outcome === "success";
      }, "a's v3 outcome");
    } finally {
      await host.stop();
      await fleet.a.close();
      await fleet.b.close();
    }
  });
});

/** Counts the calls a host makes to its fleet. */
class CountingFleet implements Fleet {
  readonly calls: string[] = [];
  constructor(readonly inner: Fleet) {}
  acquire(version: FleetVersion, signal: AbortSignal): Promise<SlotDecision> {
    this.calls.push("acquire");
    return this.inner.acquire(version, signal);
  }
  finish(version: FleetVersion, outcome: HostOutcome): Promise<void> {
    this.calls.push("finish");
    return this.inner.finish(version, outcome);
  }
  release(version: FleetVersion): Promise<void> {
    this.calls.push("release");
    return this.inner.release(version);
  }
  status(versionHash?: string) {
    return this.inner.status(versionHash);
  }
  resume(versionHash?: string) {
    return this.inner.resume(versionHash);
  }
  close() {
    return this.inner.close();
  }
}

Deno.test("run() with --dry-run never asks the fleet for a slot nor reports to it", async () => {
  using clock = new FakeClock();
  const fleet = new CountingFleet(fleetOf(clock).a);
  await withLog(async (records) => {
    const host = await startHost(records, config([...ARGV, "--dry-run"]), { clock, fleet });
    try {
      host.watcher.see(B);
      await until(() => phases(records).at(-1) === "restarting → idle", "the dry run to end");
      assert.ok(logged(records, /Dry run: version .B. would restart 1 program/));
    } finally {
      await host.stop(); // waits for background work, a fleet report included
      await fleet.close();
    }
    assert.deepEqual(fleet.calls, []);
  });
});

Deno.test("run() with --fleet runs the pre-restart step only once it holds a slot", async () => {
  using clock = new FakeClock();
  const fleet = fleetOf(clock);
  const cfg = config([...ARGV, "--pre-restart", "true"], { hookTimeoutMs: 0 });
  await withLog(async (records) => {
    const host = await startHost(records, cfg, { clock, fleet: fleet.a });
    try {
      assert.equal((await fleet.b.acquire(B, new AbortController().signal)).kind, "go");
      host.watcher.see(B);
      await until(() => logged(records, /Waiting for a fleet slot for version .B./), "a waits");
      await clock.tickAsync(1_000); // b holds the slot: a's pre step must not run meanwhile
      assert.ok(!phases(records).includes("fleet-wait → pre-restart"));
      await fleet.b.finish(B, OK);
      await until(() => count(phases(records), "pre-restart → idle") === 1, "a's cycle to end");
      assert.deepEqual(phases(records).slice(-3), [
        "delaying → fleet-wait",
        "fleet-wait → pre-restart",
        "pre-restart → idle",
      ]);
      // The slot covered the step, and the aborted outcome reached the fleet.
      await until(async () => {
        const a = (await fleet.a.status(B.hash)).hosts.find((h) => h.hostId === "a");
        return a?.outcome === "aborted";
      }, "a's outcome");
    } finally {
      await host.stop();
      await fleet.a.close();
      await fleet.b.close();
    }
  });
});
