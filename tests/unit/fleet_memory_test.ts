/**
 * The fleet rules on MemoryFleet under a fake clock: several instances sharing one state are
 * several hosts. The Redis engine is held to the same rules in tests/integration/fleet_redis_test.ts.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { FleetVersion, HostOutcome, SlotDecision } from "../../lib/fleet/fleet.ts";
import { MemoryFleet, type MemoryFleetOptions, MemoryFleetState } from "../support/memory_fleet.ts";
import { FakeClock } from "../support/fake_clock.ts";

const V1: FleetVersion = { hash: "aaa111", label: "v1" };
const V2: FleetVersion = { hash: "bbb222", label: "v2" };
const LEASE_MS = 30_000;
const POLL_MS = 100;
/** Default waiter heartbeat TTL: max(leaseMs / 3, 5 * pollMs). */
const WAITER_TTL_MS = 10_000;
const OK: HostOutcome = { outcome: "success", ok: true, detail: "" };
const FAILED: HostOutcome = { outcome: "failed", ok: false, detail: "web:app: SPAWN_ERROR" };
const never = new AbortController().signal;

/** A fleet of hosts h1…hN on one shared state, and a way to watch acquire() calls settle. */
function setup(count: number, options: Partial<MemoryFleetOptions> = {}) {
  const clock = new FakeClock();
  const state = new MemoryFleetState();
  const make = (hostId: string, overrides: Partial<MemoryFleetOptions> = {}) =>
    new MemoryFleet(state, {
      group: "web",
      hostId,
      maxParallel: 1,
      canary: 0,
      leaseMs: LEASE_MS,
      pollMs: POLL_MS,
      clock,
      ...options,
      ...overrides,
    });
  const hosts = Array.from({ length: count }, (_, i) => make(`h${i + 1}`));
  const decisions = new Map<string, SlotDecision | Error>();
  const acquire = (index: number, version = V1, signal = never) => {
    const host = hosts[index]!;
    const id = `h${index + 1}`;
    decisions.delete(id);
    return host.acquire(version, signal).then(
      (decision) => void decisions.set(id, decision),
      (error) => void decisions.set(id, error),
    );
  };
  return {
    clock,
    hosts,
    make,
    decisions,
    acquire,
    [Symbol.dispose]: () => clock[Symbol.dispose](),
  };
}

Deno.test("MemoryFleet.acquire() lets at most 2 of 8 hosts hold a slot, in arrival order", async () => {
  using fleet = setup(8, { maxParallel: 2 });
  const { clock, hosts, decisions } = fleet;
  for (let i = 0; i < 8; i++) void fleet.acquire(i);
  const order: string[] = [];
  const holding: string[] = [];
  let maxHolders = 0;
  for (let finished = 0; finished < 8; finished++) {
    await clock.runMicrotasks();
    for (const [id, decision] of decisions) {
      if (order.includes(id)) continue;
      assert.deepEqual(decision, { kind: "go", canary: false });
      order.push(id);
      holding.push(id);
    }
    const status = await hosts[0]!.status();
    assert.deepEqual(status.slots.toSorted(), holding.toSorted());
    maxHolders = Math.max(maxHolders, holding.length);
    const next = holding.shift();
    assert.ok(next !== undefined, `no host holds a slot after ${order.join(",")}`);
    await hosts[Number(next.slice(1)) - 1]!.finish(V1, OK);
  }
  assert.equal(maxHolders, 2);
  assert.deepEqual(order, ["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"]);
  const status = await hosts[0]!.status();
  assert.deepEqual(status.hosts.map((h) => h.state), Array(8).fill("done"));
  assert.deepEqual(status.slots, []);
});

Deno.test("MemoryFleet.acquire() keeps the slot renewed while its holder restarts", async () => {
  using fleet = setup(2);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  await clock.tickAsync(3 * LEASE_MS);
  assert.equal(decisions.get("h2"), undefined);
  assert.deepEqual((await hosts[0]!.status()).slots, ["h1"]);
  await hosts[0]!.finish(V1, OK);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
});

Deno.test("MemoryFleet.acquire() frees a dead holder's slot when its lease expires", async () => {
  using fleet = setup(2);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  hosts[0]!.abandon();
  void fleet.acquire(1);
  await clock.tickAsync(LEASE_MS - POLL_MS);
  assert.equal(decisions.get("h2"), undefined);
  await clock.tickAsync(2 * POLL_MS);
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
  const status = await hosts[1]!.status();
  assert.deepEqual(status.slots, ["h2"]);
  assert.deepEqual(
    status.hosts.map((h) => [h.hostId, h.state, h.detail]),
    [["h1", "restarting", "stopped renewing its lease"], ["h2", "restarting", ""]],
  );
  assert.equal(status.halted, null);
});

Deno.test("MemoryFleet.acquire() skips a waiter that stopped heartbeating", async () => {
  using fleet = setup(3);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  void fleet.acquire(2);
  await clock.runMicrotasks();
  hosts[1]!.abandon(); // h2 dies while first in line
  await hosts[0]!.finish(V1, OK);
  await clock.tickAsync(POLL_MS);
  assert.equal(decisions.get("h3"), undefined, "h2's place is kept until its heartbeat expires");
  await clock.tickAsync(WAITER_TTL_MS);
  assert.deepEqual(decisions.get("h3"), { kind: "go", canary: false });
});

Deno.test("MemoryFleet.acquire() makes the others wait for the canary's success", async () => {
  using fleet = setup(3, { maxParallel: 2, canary: 1 });
  const { clock, hosts, decisions } = fleet;
  for (let i = 0; i < 3; i++) void fleet.acquire(i);
  await clock.tickAsync(5 * POLL_MS);
  assert.deepEqual(decisions.get("h1"), { kind: "go", canary: true });
  assert.equal(decisions.get("h2"), undefined, "a slot is free, but the canary has not finished");
  assert.equal(decisions.get("h3"), undefined);
  await hosts[0]!.finish(V1, OK);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
  assert.deepEqual(decisions.get("h3"), { kind: "go", canary: false });
});

Deno.test("MemoryFleet.acquire() halts the version when a canary dies mid-restart", async () => {
  using fleet = setup(2, { maxParallel: 2, canary: 1 });
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  hosts[0]!.abandon();
  await clock.tickAsync(LEASE_MS + POLL_MS);
  const reason = 'canary host "h1" stopped renewing its lease before finishing';
  assert.deepEqual(decisions.get("h2"), { kind: "halted", reason });
  const status = await hosts[1]!.status();
  assert.deepEqual(status.halted, { reason, by: "h1", at: status.halted?.at });
  assert.deepEqual(
    status.hosts.map((h) => [h.hostId, h.state, h.outcome]),
    [["h1", "failed", "lost"], ["h2", "skipped", "skipped"]],
  );
});

Deno.test("MemoryFleet.acquire() halts the version when a waiting canary stops heartbeating", async () => {
  using fleet = setup(3, { maxParallel: 1, canary: 2 });
  const { clock, hosts, decisions } = fleet;
  for (let i = 0; i < 3; i++) void fleet.acquire(i);
  await clock.runMicrotasks();
  hosts[1]!.abandon();
  await clock.tickAsync(WAITER_TTL_MS + POLL_MS);
  const reason = 'canary host "h2" stopped heartbeating before finishing';
  assert.deepEqual(decisions.get("h3"), { kind: "halted", reason });
  assert.deepEqual(decisions.get("h1"), { kind: "go", canary: true });
});

Deno.test("MemoryFleet.finish() with a failure halts waiting and later hosts at once", async () => {
  using fleet = setup(4);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  void fleet.acquire(2);
  await clock.runMicrotasks();
  const haltedAt = clock.now();
  await hosts[0]!.finish(V1, FAILED);
  await clock.runMicrotasks(); // no tick: woken, not polled
  const reason = 'host "h1" reported failed: web:app: SPAWN_ERROR';
  assert.deepEqual(decisions.get("h2"), { kind: "halted", reason });
  assert.deepEqual(decisions.get("h3"), { kind: "halted", reason });
  await fleet.acquire(3);
  assert.deepEqual(decisions.get("h4"), { kind: "halted", reason });
  await hosts[1]!.finish(V1, { outcome: "failed", ok: false, detail: "second failure" });
  const status = await hosts[0]!.status();
  assert.deepEqual(status.halted, { reason, by: "h1", at: haltedAt });
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state]), [
    ["h1", "failed"],
    ["h2", "skipped"],
    ["h3", "skipped"],
    ["h4", "skipped"],
  ]);
  assert.deepEqual(status.slots, []);
});

Deno.test("MemoryFleet.resume() clears a halt; a newer version starts a fresh rollout", async () => {
  using fleet = setup(3);
  const { hosts, decisions } = fleet;
  await fleet.acquire(0);
  await hosts[0]!.finish(V1, FAILED);
  await fleet.acquire(1, V2);
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
  const latest = await hosts[0]!.status();
  assert.equal(latest.version?.hash, V2.hash);
  assert.equal(latest.halted, null);
  assert.equal(await hosts[0]!.resume(), false, "the latest version (v2) is not halted");
  assert.equal(await hosts[0]!.resume(V1.hash), true);
  assert.equal(await hosts[0]!.resume(V1.hash), false);
  assert.equal((await hosts[0]!.status(V1.hash)).halted, null);
  await hosts[1]!.finish(V2, OK);
  await fleet.acquire(2, V1);
  assert.deepEqual(decisions.get("h3"), { kind: "go", canary: false });
});

Deno.test("MemoryFleet.finish() is idempotent: the first outcome stays, the slot is freed once", async () => {
  using fleet = setup(2);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  await hosts[0]!.finish(V1, OK);
  await hosts[0]!.finish(V1, OK);
  await hosts[0]!.finish(V1, FAILED);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
  const status = await hosts[0]!.status();
  assert.equal(status.halted, null);
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome]), [
    ["h1", "done", "success"],
    ["h2", "restarting", null],
  ]);
  assert.deepEqual(status.slots, ["h2"]);
});

Deno.test("MemoryFleet.acquire() by the holder renews its one slot", async () => {
  using fleet = setup(1, { maxParallel: 2 });
  const { hosts, decisions } = fleet;
  await fleet.acquire(0);
  await fleet.acquire(0);
  assert.deepEqual(decisions.get("h1"), { kind: "go", canary: false });
  assert.deepEqual((await hosts[0]!.status()).slots, ["h1"]);
});

Deno.test("MemoryFleet.acquire() rejects with the abort reason and gives up its place", async () => {
  using fleet = setup(3);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  const controller = new AbortController();
  void fleet.acquire(1, V1, controller.signal);
  void fleet.acquire(2);
  await clock.runMicrotasks();
  controller.abort(new Error("stopping"));
  await clock.runMicrotasks();
  assert.equal((decisions.get("h2") as Error).message, "stopping");
  await hosts[0]!.finish(V1, OK);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h3"), { kind: "go", canary: false });
});

Deno.test("MemoryFleet.close() releases the slot for the next host", async () => {
  using fleet = setup(2);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  await hosts[0]!.close();
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
  await assert.rejects(hosts[0]!.status(), { name: "FleetUnavailableError" });
});

Deno.test("MemoryFleet.close() of a waiting canary hands the canary role on", async () => {
  using fleet = setup(3, { maxParallel: 2, canary: 1 });
  const { clock, hosts, decisions } = fleet;
  const busy = fleet.make("busy", { canary: 0 });
  const other = fleet.make("other", { canary: 0 });
  await busy.acquire(V2, never); // both slots taken by another version's hosts
  await other.acquire(V2, never);
  void fleet.acquire(0); // the canary of v1, waiting for a slot
  void fleet.acquire(1);
  await clock.runMicrotasks();
  await hosts[0]!.close();
  void fleet.acquire(2);
  await busy.finish(V2, OK);
  await clock.runMicrotasks();
  assert.equal(decisions.get("h2"), undefined, "h2 arrived as a regular host");
  assert.deepEqual(decisions.get("h3"), { kind: "go", canary: true });
  await other.finish(V2, OK);
});

Deno.test("MemoryFleet rejects bad options and versions with RangeError", async () => {
  const state = new MemoryFleetState();
  const base = { group: "web", hostId: "h1", maxParallel: 1, canary: 0 };
  assert.throws(() => new MemoryFleet(state, { ...base, maxParallel: 0 }), {
    name: "RangeError",
    message: 'Cannot use fleet maximum "0": must be an integer >= 1',
  });
  assert.throws(() => new MemoryFleet(state, { ...base, canary: -1 }), RangeError);
  assert.throws(() => new MemoryFleet(state, { ...base, group: "a{b}" }), RangeError);
  assert.throws(() => new MemoryFleet(state, { ...base, hostId: "" }), RangeError);
  const fleet = new MemoryFleet(state, base);
  await assert.rejects(fleet.acquire({ hash: "a:b", label: "x" }, never), RangeError);
});

Deno.test("MemoryFleet.release() frees the slot without an outcome; acquire() queues the host again", async () => {
  using fleet = setup(3);
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  await clock.runMicrotasks();
  await hosts[0]!.release(V1);
  await hosts[0]!.release(V1); // idempotent
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
  void fleet.acquire(2);
  await clock.tickAsync(3 * LEASE_MS); // h1 stays registered (heartbeat), h2 keeps its slot
  let status = await hosts[0]!.status();
  assert.equal(status.halted, null);
  assert.deepEqual(status.slots, ["h2"]);
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome, h.detail]), [
    ["h1", "waiting", null, "gave its slot back; queues again when it can restart"],
    ["h2", "restarting", null, ""],
    ["h3", "waiting", null, ""],
  ]);
  void fleet.acquire(0); // h1 can restart again: first in line, ahead of h3
  await hosts[1]!.finish(V1, OK);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h1"), { kind: "go", canary: false });
  assert.equal(decisions.get("h3"), undefined);
  await hosts[0]!.finish(V1, OK);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h3"), { kind: "go", canary: false });
  status = await hosts[0]!.status();
  assert.deepEqual(status.hosts.map((h) => h.state), ["done", "done", "restarting"]);
});

Deno.test("MemoryFleet.release() by the canary halts nothing and keeps the others waiting for it", async () => {
  using fleet = setup(2, { maxParallel: 2, canary: 1 });
  const { clock, hosts, decisions } = fleet;
  await fleet.acquire(0);
  void fleet.acquire(1);
  await hosts[0]!.release(V1);
  await clock.tickAsync(3 * LEASE_MS);
  assert.equal(decisions.get("h2"), undefined, "the canary has not succeeded yet");
  assert.equal((await hosts[0]!.status()).halted, null);
  await fleet.acquire(0);
  assert.deepEqual(decisions.get("h1"), { kind: "go", canary: true });
  await hosts[0]!.finish(V1, OK);
  await clock.runMicrotasks();
  assert.deepEqual(decisions.get("h2"), { kind: "go", canary: false });
});

Deno.test("MemoryFleet: a holder cut off past its lease loses its slot and never takes it back", async () => {
  using fleet = setup(0);
  const { clock } = fleet;
  // h1 runs on a clock of its own: while only the fleet's clock moves, its renewals are held
  // back, as if its connection to the fleet were frozen.
  using cutOff = new FakeClock(clock.now());
  await using h1 = fleet.make("h1", { clock: cutOff });
  await using h2 = fleet.make("h2");
  const records = await captureFleetLog();
  try {
    assert.deepEqual(await h1.acquire(V1, never), { kind: "go", canary: false });
    const granted = h2.acquire(V1, never);
    await clock.tickAsync(LEASE_MS + POLL_MS);
    assert.deepEqual(await granted, { kind: "go", canary: false });
    await cutOff.tickAsync(LEASE_MS + POLL_MS); // the connection thaws: h1's renewal lands late
    let status = await h2.status();
    assert.deepEqual(status.slots, ["h2"], "never two holders at --fleet-max 1");
    await clock.tickAsync(LEASE_MS);
    await cutOff.tickAsync(LEASE_MS); // h1 stopped renewing: it never comes back
    assert.deepEqual((await h2.status()).slots, ["h2"]);
    assert.deepEqual(records.map((r) => [r.level, r.message.map(String).join("")]), [[
      "error",
      'Lost the fleet slot for version "v1": its lease expired before a renewal reached the fleet; another host may be restarting now',
    ]]);
    await h1.finish(V1, { outcome: "success", ok: true, detail: "2 programs restarted" });
    status = await h2.status();
    assert.deepEqual(status.slots, ["h2"]);
    assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.detail]), [
      [
        "h1",
        "done",
        "2 programs restarted; lost its slot: the lease expired while it was restarting; another host may have restarted meanwhile",
      ],
      ["h2", "restarting", ""],
    ]);
  } finally {
    await reset();
  }
});

/** Collects the fleet's log records until `reset()`. */
async function captureFleetLog(): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { test: (record) => records.push(record) },
    loggers: [
      { category: ["releasemon", "fleet"], sinks: ["test"], lowestLevel: "info" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  return records;
}

Deno.test("MemoryFleet.join() refuses a second live instance with the same id until the first is gone", async () => {
  using fleet = setup(0);
  const { clock } = fleet;
  await using first = fleet.make("h1", { instance: 'pid 101 on "web-a"' });
  await first.join();
  await clock.tickAsync(2 * LEASE_MS); // refreshed while it lives
  await using second = fleet.make("h1", { instance: 'pid 202 on "web-b"' });
  const refusal = {
    name: "FleetIdentityError",
    message:
      'Cannot join fleet "web" as "h1": another releasemon process already uses that id (pid 101 on "web-a"; if that process is gone, the id is free within 30 seconds); give each host a unique --fleet-id',
  };
  await assert.rejects(second.join(), refusal);
  await assert.rejects(second.acquire(V1, never), refusal);
  await using other = fleet.make("h2");
  await other.join();
  await first.close();
  await second.join();
  second.abandon(); // a crash: the claim lapses after one lease
  await using third = fleet.make("h1");
  await assert.rejects(third.join(), { name: "FleetIdentityError" });
  await clock.tickAsync(LEASE_MS);
  await third.join();
});
