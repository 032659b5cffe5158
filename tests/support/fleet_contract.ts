/**
 * The {@linkcode Fleet} contract, written once and run against both engines: the in-memory one on a
 * fake clock (tests/unit/fleet_contract_memory_test.ts) and the Redis one against a real
 * redis-server with short leases (tests/integration/fleet_contract_redis_test.ts). What unit tests
 * of the program learn from the in-memory engine then holds for Redis.
 *
 * Each step makes hosts `h1`…`hN` of a fresh group, so steps share nothing. Time moves through the
 * subject: {@linkcode FleetSubject.until} lets it pass until an observable condition holds (under a
 * deadline); {@linkcode FleetSubject.elapse} lets it pass only to show that something does NOT
 * happen within a window, never to wait for something to happen.
 *
 * @module
 */
import { renderMessage } from "../../lib/log.ts";
import assert from "node:assert/strict";
import type { LogRecord } from "../../lib/logger.ts";
import { withLog } from "./log_capture.ts";
import {
  type Fleet,
  FleetIdentityError,
  type FleetOptions,
  FleetUnavailableError,
  type FleetVersion,
  type HostOutcome,
  type SlotDecision,
} from "../../lib/fleet/fleet.ts";

/** One host of a subject: a {@linkcode Fleet} that can also claim its id and die. */
export interface ContractHost extends Fleet {
  /** Claims the host id for this instance; FleetIdentityError while another live one holds it. */
  join(): Promise<void>;
  /** Stops renewing and heartbeating without a word, as if the process had died. */
  abandon(): void | Promise<void>;
}

/** A host whose link to the fleet can be cut: while cut, nothing it sends reaches the fleet. */
export interface CutOffHost extends AsyncDisposable {
  readonly host: ContractHost;
  cut(): void;
  /** Restores the link; what the host sent meanwhile arrives now. */
  heal(): void;
}

/** Options the contract gives a host; the subject adds its lease, poll and heartbeat times. */
export type ContractHostOptions = Omit<FleetOptions, "leaseMs">;

/** An engine under test, with its clock. */
export interface FleetSubject {
  /** The lease of every host. */
  readonly leaseMs: number;
  /** How often a waiting host asks again. */
  readonly pollMs: number;
  /** How long a waiting host stays registered without a heartbeat. */
  readonly waiterTtlMs: number;
  /** Makes (and connects) one host. */
  host(options: ContractHostOptions): Promise<ContractHost>;
  /** Makes (and connects) one host whose link can be cut. */
  cutOffHost(options: ContractHostOptions): Promise<CutOffHost>;
  /** The subject's clock, epoch ms (the one halt times are taken on). */
  now(): number;
  /** Lets `ms` pass: only to show that nothing happens meanwhile. */
  elapse(ms: number): Promise<void>;
  /**
   * Lets time pass until `probe` answers (not undefined) and returns the answer; fails naming
   * `what` when it has not within `withinMs` (plus, on a real clock, some slack for a busy
   * machine).
   */
  until<T>(
    what: string,
    probe: () => T | undefined | Promise<T | undefined>,
    withinMs: number,
  ): Promise<T>;
  /** {@linkcode until} without waiting for any poll: the change must wake the others at once. */
  soon<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T>;
}

export const V1: FleetVersion = { hash: "aaa111", label: "v1" };
export const V2: FleetVersion = { hash: "bbb222", label: "v2" };
const OK: HostOutcome = { outcome: "success", ok: true, detail: "" };
const FAILED: HostOutcome = { outcome: "failed", ok: false, detail: "web:app: SPAWN_ERROR" };
const GO = { kind: "go", canary: false } as const;
const GO_CANARY = { kind: "go", canary: true } as const;
const STAND_BY = "gave its slot back; queues again when it can restart";
const LOST = "lost its slot: the lease expired while it was restarting; " +
  "another host may have restarted meanwhile";
const never = new AbortController().signal;
/** Rounding between the subject's clock and the engine's (Redis `TIME`). */
const CLOCK_MS = 5;

/** An acquire() in flight: `value` is its decision or error once settled, at `at`. */
interface Tracked {
  value: SlotDecision | Error | undefined;
  at: number | undefined;
}

function track(subject: FleetSubject, call: Promise<SlotDecision>): Tracked {
  const tracked: Tracked = { value: undefined, at: undefined };
  const settle = (value: SlotDecision | Error) => {
    tracked.at = subject.now();
    tracked.value = value;
  };
  call.then(settle, settle);
  return tracked;
}

let groups = 0;

/** The hosts of one fresh group; closes them all at the end of a step. */
class Rollout implements AsyncDisposable {
  readonly name = `g${++groups}`;
  readonly hosts: ContractHost[] = [];
  readonly #subject: FleetSubject;
  readonly #options: { maxParallel: number; canary: number };
  readonly #cutOff: CutOffHost[] = [];

  constructor(subject: FleetSubject, options: { maxParallel?: number; canary?: number }) {
    this.#subject = subject;
    this.#options = { maxParallel: options.maxParallel ?? 1, canary: options.canary ?? 0 };
  }

  async add(hostId: string, options: Partial<ContractHostOptions> = {}): Promise<ContractHost> {
    const host = await this.#subject.host(this.#hostOptions(hostId, options));
    this.hosts.push(host);
    return host;
  }

  async addCutOff(hostId: string): Promise<CutOffHost> {
    const cutOff = await this.#subject.cutOffHost(this.#hostOptions(hostId, {}));
    this.#cutOff.push(cutOff);
    this.hosts.push(cutOff.host);
    return cutOff;
  }

  /** Hosts h1…hN. */
  async addMany(count: number): Promise<ContractHost[]> {
    const hosts = [];
    for (let i = 1; i <= count; i++) hosts.push(await this.add(`h${i}`));
    return hosts;
  }

  /** Waits until `hostId` shows in the latest rollout record (as `observer` sees it). */
  async arrived(observer: ContractHost, hostId: string): Promise<void> {
    await this.#subject.until(`${hostId} to arrive`, async () => {
      const status = await observer.status();
      return status.hosts.some((h) => h.hostId === hostId) || undefined;
    }, this.#subject.leaseMs);
  }

  /** Starts `host.acquire(version)` and waits until the host shows in the record. */
  async queue(host: ContractHost, hostId: string, version = V1, signal = never): Promise<Tracked> {
    const tracked = track(this.#subject, host.acquire(version, signal));
    await this.arrived(host, hostId);
    return tracked;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const cutOff of this.#cutOff) cutOff.heal();
    await Promise.allSettled(this.hosts.map((host) => host.close()));
    for (const cutOff of this.#cutOff) await cutOff[Symbol.asyncDispose]();
  }

  #hostOptions(hostId: string, options: Partial<ContractHostOptions>): ContractHostOptions {
    return { group: this.name, hostId, ...this.#options, ...options };
  }
}

/** Runs every step of the contract against `subject`. */
export async function fleetContract(t: Deno.TestContext, subject: FleetSubject): Promise<void> {
  const { leaseMs, pollMs, waiterTtlMs } = subject;
  const decided = (tracked: Tracked) => () => tracked.value;
  const rollout = (options: { maxParallel?: number; canary?: number } = {}) =>
    new Rollout(subject, options);

  await t.step(
    "acquire() keeps 8 hosts to --fleet-max 2 and grants slots in arrival order",
    async () => {
      await using g = rollout({ maxParallel: 2 });
      const hosts = await g.addMany(8);
      const acquiring: Tracked[] = [];
      for (const [i, host] of hosts.entries()) acquiring.push(await g.queue(host, `h${i + 1}`));
      const order: string[] = [];
      const holding: number[] = [];
      for (let finished = 0; finished < 8; finished++) {
        const expected = Math.min(2, 8 - finished);
        await subject.until(`${expected} holders`, () => {
          for (const [i, tracked] of acquiring.entries()) {
            if (tracked.value === undefined || order.includes(`h${i + 1}`)) continue;
            assert.deepEqual(tracked.value, GO);
            order.push(`h${i + 1}`);
            holding.push(i);
          }
          return holding.length >= expected || undefined;
        }, leaseMs);
        const status = await hosts[0]!.status();
        assert.deepEqual(status.slots.toSorted(), holding.map((i) => `h${i + 1}`).toSorted());
        assert.ok(holding.length <= 2, `${holding.length} holders at --fleet-max 2`);
        await hosts[holding.shift()!]!.finish(V1, OK);
      }
      assert.deepEqual(order, ["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"]);
      const status = await hosts[0]!.status();
      assert.equal(status.group, g.name);
      assert.deepEqual(status.version, V1);
      assert.deepEqual(
        status.hosts.map((h) => [h.hostId, h.state]),
        order.map((id) => [id, "done"]),
      );
      assert.deepEqual(status.slots, []);
    },
  );

  await t.step(
    "acquire() keeps the slot renewed past its lease while the holder restarts",
    async () => {
      await using g = rollout();
      const [h1, h2] = await g.addMany(2);
      assert.deepEqual(await h1!.acquire(V1, never), GO);
      const waiting = await g.queue(h2!, "h2");
      await subject.elapse(2 * leaseMs);
      assert.equal(waiting.value, undefined);
      assert.deepEqual((await h1!.status()).slots, ["h1"]);
      await h1!.finish(V1, OK);
      assert.deepEqual(await subject.soon("h2's slot", decided(waiting)), GO);
    },
  );

  await t.step(
    "acquire() frees a dead holder's slot when its lease expires, not before",
    async () => {
      await using g = rollout();
      const [h1, h2] = await g.addMany(2);
      const acquiredAt = subject.now();
      assert.deepEqual(await h1!.acquire(V1, never), GO);
      await h1!.abandon();
      const waiting = await g.queue(h2!, "h2");
      assert.deepEqual(await subject.until("h2's slot", decided(waiting), leaseMs), GO);
      const waited = waiting.at! - acquiredAt;
      assert.ok(waited >= leaseMs - CLOCK_MS, `granted ${waited} ms after h1's lease began`);
      const status = await h2!.status();
      assert.deepEqual(status.slots, ["h2"]);
      assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.detail]), [
        ["h1", "restarting", "stopped renewing its lease"],
        ["h2", "restarting", ""],
      ]);
      assert.equal(status.halted, null);
    },
  );

  await t.step(
    "acquire() skips a waiter that stopped heartbeating, after its heartbeat TTL",
    async () => {
      await using g = rollout();
      const [h1, h2, h3] = await g.addMany(3);
      assert.deepEqual(await h1!.acquire(V1, never), GO);
      const queuedAt = subject.now();
      await g.queue(h2!, "h2");
      const third = await g.queue(h3!, "h3");
      await h2!.abandon(); // dies while first in line
      await h1!.finish(V1, OK);
      assert.deepEqual(await subject.until("h3's slot", decided(third), waiterTtlMs), GO);
      const waited = third.at! - queuedAt;
      assert.ok(
        waited >= waiterTtlMs - CLOCK_MS,
        `h2's place was given away ${waited} ms after it queued, before its heartbeat expired`,
      );
    },
  );

  await t.step("acquire() makes the others wait for the canary's success", async () => {
    await using g = rollout({ maxParallel: 2, canary: 1 });
    const [h1, h2, h3] = await g.addMany(3);
    assert.deepEqual(await h1!.acquire(V1, never), GO_CANARY);
    const others = [await g.queue(h2!, "h2"), await g.queue(h3!, "h3")];
    await subject.elapse(3 * pollMs);
    assert.deepEqual(others.map((o) => o.value), [undefined, undefined], "a slot is free");
    await h1!.finish(V1, OK);
    for (const other of others) assert.deepEqual(await subject.soon("a slot", decided(other)), GO);
    await h2!.finish(V1, OK);
    await h3!.finish(V1, OK);
    assert.deepEqual((await h1!.status()).hosts.map((h) => h.state), ["done", "done", "done"]);
  });

  await t.step("acquire() halts the version when a canary dies mid-restart", async () => {
    await using g = rollout({ maxParallel: 2, canary: 1 });
    const [h1, h2] = await g.addMany(2);
    assert.deepEqual(await h1!.acquire(V1, never), GO_CANARY);
    const waiting = await g.queue(h2!, "h2");
    await h1!.abandon();
    const reason = 'canary host "h1" stopped renewing its lease before finishing';
    assert.deepEqual(await subject.until("the halt", decided(waiting), leaseMs), {
      kind: "halted",
      reason,
    });
    const status = await h2!.status();
    assert.deepEqual(status.halted, { reason, by: "h1", at: status.halted?.at });
    assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome]), [
      ["h1", "failed", "lost"],
      ["h2", "skipped", "skipped"],
    ]);
  });

  await t.step("acquire() halts the version when a waiting canary stops heartbeating", async () => {
    await using g = rollout({ maxParallel: 1, canary: 2 });
    const [h1, h2, h3] = await g.addMany(3);
    assert.deepEqual(await h1!.acquire(V1, never), GO_CANARY);
    await g.queue(h2!, "h2");
    const third = await g.queue(h3!, "h3");
    await h2!.abandon();
    const reason = 'canary host "h2" stopped heartbeating before finishing';
    assert.deepEqual(await subject.until("the halt", decided(third), waiterTtlMs + leaseMs), {
      kind: "halted",
      reason,
    });
    const status = await h1!.status();
    assert.equal(status.halted?.reason, reason);
    assert.deepEqual(status.slots, ["h1"], "the canary that restarts keeps its slot");
  });

  await t.step("finish() with a failure halts waiting and later hosts at once", async () => {
    await using g = rollout();
    const [h1, h2, h3, h4] = await g.addMany(4);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    const waiting = [await g.queue(h2!, "h2"), await g.queue(h3!, "h3")];
    const before = subject.now();
    await h1!.finish(V1, FAILED);
    const after = subject.now();
    const halted = { kind: "halted", reason: 'host "h1" reported failed: web:app: SPAWN_ERROR' };
    for (const w of waiting) assert.deepEqual(await subject.soon("the halt", decided(w)), halted);
    assert.deepEqual(await h4!.acquire(V1, never), halted);
    await h2!.finish(V1, { outcome: "failed", ok: false, detail: "second failure" });
    const status = await h1!.status();
    assert.deepEqual(status.halted, { reason: halted.reason, by: "h1", at: status.halted?.at });
    const at = status.halted?.at ?? 0;
    assert.ok(
      at >= before - CLOCK_MS && at <= after + CLOCK_MS,
      `halted at ${at}, not in [${before}, ${after}]`,
    );
    assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state]), [
      ["h1", "failed"],
      ["h2", "skipped"],
      ["h3", "skipped"],
      ["h4", "skipped"],
    ]);
    assert.deepEqual(status.slots, []);
  });

  await t.step("resume() clears a halt; a newer version starts a fresh rollout", async () => {
    await using g = rollout();
    const [h1, h2, h3] = await g.addMany(3);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    await h1!.finish(V1, FAILED);
    assert.deepEqual(await h2!.acquire(V2, never), GO);
    const latest = await h1!.status();
    assert.deepEqual(latest.version, V2);
    assert.equal(latest.halted, null);
    assert.equal(await h1!.resume(), false, "the latest version (v2) is not halted");
    assert.equal(await h1!.resume(V1.hash), true);
    assert.equal(await h1!.resume(V1.hash), false);
    assert.equal((await h1!.status(V1.hash)).halted, null);
    await h2!.finish(V2, OK);
    assert.deepEqual(await h3!.acquire(V1, never), GO);
    await h3!.finish(V1, OK);
    assert.deepEqual((await h1!.status(V1.hash)).hosts.map((h) => [h.hostId, h.state]), [
      ["h1", "failed"],
      ["h3", "done"],
    ]);
  });

  await t.step(
    "finish() is idempotent: the first outcome stays, the slot is freed once",
    async () => {
      await using g = rollout();
      const [h1, h2] = await g.addMany(2);
      assert.deepEqual(await h1!.acquire(V1, never), GO);
      const waiting = await g.queue(h2!, "h2");
      await h1!.finish(V1, OK);
      await h1!.finish(V1, OK);
      await h1!.finish(V1, FAILED);
      assert.deepEqual(await subject.soon("h2's slot", decided(waiting)), GO);
      const status = await h1!.status();
      assert.equal(status.halted, null);
      assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome]), [
        ["h1", "done", "success"],
        ["h2", "restarting", null],
      ]);
      assert.deepEqual(status.slots, ["h2"]);
    },
  );

  await t.step("acquire() by the holder keeps its one slot", async () => {
    await using g = rollout({ maxParallel: 2 });
    const [h1] = await g.addMany(1);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    assert.deepEqual((await h1!.status()).slots, ["h1"]);
  });

  await t.step("acquire() rejects with the abort reason and gives up its place", async () => {
    await using g = rollout();
    const [h1, h2, h3] = await g.addMany(3);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    const controller = new AbortController();
    const aborted = await g.queue(h2!, "h2", V1, controller.signal);
    const third = await g.queue(h3!, "h3");
    controller.abort(new Error("stopping"));
    const error = await subject.soon("the rejection", decided(aborted));
    assert.ok(error instanceof Error && error.message === "stopping", String(error));
    await h1!.finish(V1, OK);
    assert.deepEqual(await subject.until("h3's slot", decided(third), leaseMs), GO);
    assert.deepEqual((await h1!.status()).slots, ["h3"]);
  });

  await t.step("close() releases the slot for the next host; later calls reject", async () => {
    await using g = rollout();
    const [h1, h2] = await g.addMany(2);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    const waiting = await g.queue(h2!, "h2");
    await h1!.close();
    await h1!.close(); // idempotent
    assert.deepEqual(await subject.soon("h2's slot", decided(waiting)), GO);
    await assert.rejects(h1!.status(), FleetUnavailableError);
    await assert.rejects(h1!.release(V1), FleetUnavailableError);
    await assert.rejects(h1!.acquire(V1, never), FleetUnavailableError);
  });

  await t.step("close() of a waiting canary hands the canary role on", async () => {
    await using g = rollout({ maxParallel: 2, canary: 1 });
    const [h1, h2, h3] = await g.addMany(3);
    const busy = await g.add("busy", { canary: 0 });
    const other = await g.add("other", { canary: 0 });
    assert.deepEqual(await busy.acquire(V2, never), GO); // both slots: another version's hosts
    assert.deepEqual(await other.acquire(V2, never), GO);
    await g.queue(h1!, "h1"); // the canary of v1, waiting for a slot
    const second = await g.queue(h2!, "h2");
    await h1!.close();
    const third = await g.queue(h3!, "h3");
    await busy.finish(V2, OK);
    assert.deepEqual(await subject.until("h3's slot", decided(third), leaseMs), GO_CANARY);
    assert.equal(second.value, undefined, "h2 arrived as a regular host");
    await other.finish(V2, OK);
    await h3!.finish(V1, OK);
    assert.deepEqual(await subject.soon("h2's slot", decided(second)), GO);
  });

  await t.step(
    "release() frees the slot without an outcome; acquire() queues the host again in its old place",
    async () => {
      await using g = rollout();
      const [h1, h2, h3] = await g.addMany(3);
      assert.deepEqual(await h1!.acquire(V1, never), GO);
      const second = await g.queue(h2!, "h2");
      await h1!.release(V1);
      await h1!.release(V1); // idempotent
      assert.deepEqual(await subject.soon("h2's slot", decided(second)), GO);
      const third = await g.queue(h3!, "h3");
      await subject.elapse(2 * leaseMs); // h1 stays registered (heartbeat), h2 keeps its slot
      let status = await h1!.status();
      assert.equal(status.halted, null);
      assert.deepEqual(status.slots, ["h2"]);
      assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome, h.detail]), [
        ["h1", "waiting", null, STAND_BY],
        ["h2", "restarting", null, ""],
        ["h3", "waiting", null, ""],
      ]);
      const first = track(subject, h1!.acquire(V1, never)); // h1 can restart again: ahead of h3
      await subject.elapse(leaseMs / 3);
      await h2!.finish(V1, OK);
      assert.deepEqual(await subject.soon("h1's slot", decided(first)), GO);
      assert.equal(third.value, undefined);
      await h1!.finish(V1, OK);
      assert.deepEqual(await subject.soon("h3's slot", decided(third)), GO);
      status = await h1!.status();
      assert.deepEqual(status.hosts.map((h) => h.state), ["done", "done", "restarting"]);
    },
  );

  await t.step(
    "release() by the canary halts nothing and keeps the others waiting for it",
    async () => {
      await using g = rollout({ maxParallel: 2, canary: 1 });
      const [h1, h2] = await g.addMany(2);
      assert.deepEqual(await h1!.acquire(V1, never), GO_CANARY);
      const waiting = await g.queue(h2!, "h2");
      await h1!.release(V1);
      await subject.elapse(2 * leaseMs);
      assert.equal(waiting.value, undefined, "the canary has not succeeded yet");
      assert.equal((await h1!.status()).halted, null);
      assert.deepEqual(await h1!.acquire(V1, never), GO_CANARY);
      await h1!.finish(V1, OK);
      assert.deepEqual(await subject.soon("h2's slot", decided(waiting)), GO);
    },
  );

  await t.step(
    "a holder cut off past its lease loses its slot on renewal and never takes it back",
    async () => {
      await using g = rollout();
      await withLog(async (records) => {
        const h1 = await g.addCutOff("h1");
        const h2 = await g.add("h2");
        assert.deepEqual(await h1.host.acquire(V1, never), GO);
        const waiting = await g.queue(h2, "h2");
        h1.cut();
        assert.deepEqual(await subject.until("h2's slot", decided(waiting), 2 * leaseMs), GO);
        h1.heal(); // what h1 sent meanwhile lands now: a late renewal
        const errors = () => records.filter((r) => r.level === "error").map(text);
        await subject.until("the lost-slot error", () => errors()[0], leaseMs);
        await subject.elapse(leaseMs); // more renewal periods: h1 must not come back
        assert.deepEqual((await h2.status()).slots, ["h2"], "never two holders at --fleet-max 1");
        assert.deepEqual(errors(), [
          'Lost the fleet slot for version "v1": its lease expired before a renewal reached the fleet; another host may be restarting now',
        ]);
        await h1.host.finish(V1, { outcome: "success", ok: true, detail: "2 programs restarted" });
        const status = await h2.status();
        assert.deepEqual(status.slots, ["h2"]);
        assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.detail]), [
          ["h1", "done", `2 programs restarted; ${LOST}`],
          ["h2", "restarting", ""],
        ]);
      }, { lowestLevel: "info" });
    },
  );

  await t.step(
    "join() refuses a second live instance with the same id until the first is gone",
    async () => {
      await using g = rollout();
      const refusal = (instance: string) =>
        new RegExp(
          `^Cannot join fleet "${g.name}" as "h1": another releasemon process already uses that id \\(${instance}; if that process is gone, the id is free within [\\d.]+ (ms|seconds?)\\); give each host a unique --fleet-id$`,
        );
      const first = await g.add("h1", { instance: 'pid 101 on "web-a"' });
      await first.join();
      await subject.elapse(2 * leaseMs); // the claim is refreshed while its process lives
      const second = await g.add("h1", { instance: 'pid 202 on "web-b"' });
      await assert.rejects(second.join(), (e) => {
        assert.ok(e instanceof FleetIdentityError, String(e));
        assert.match(e.message, refusal('pid 101 on "web-a"'));
        return true;
      });
      await assert.rejects(second.acquire(V1, never), FleetIdentityError);
      await (await g.add("h2")).join(); // other ids are fine
      await using elsewhere = rollout();
      await (await elsewhere.add("h1")).join(); // and the same id in another group
      await first.close(); // a clean shutdown frees the id at once
      await second.join();
      await second.abandon(); // a crash: the claim lapses within one lease
      const third = await g.add("h1");
      await assert.rejects(third.join(), FleetIdentityError);
      await subject.until(
        "the crashed instance's claim to lapse",
        () =>
          third.join().then(() => true, (e: unknown) => {
            if (!(e instanceof FleetIdentityError)) throw e;
            return undefined;
          }),
        leaseMs,
      );
    },
  );

  await t.step("acquire() claims the host id when join() was not called", async () => {
    await using g = rollout();
    const first = await g.add("h1");
    assert.deepEqual(await first.acquire(V1, never), GO);
    const second = await g.add("h1");
    await assert.rejects(second.acquire(V2, never), FleetIdentityError);
    await first.finish(V1, OK);
    assert.deepEqual((await first.status()).hosts.map((h) => [h.hostId, h.state]), [[
      "h1",
      "done",
    ]]);
  });

  await t.step("status() and resume() answer for a group without a rollout", async () => {
    await using g = rollout();
    const [h1] = await g.addMany(1);
    const empty = { group: g.name, version: null, halted: null, hosts: [], slots: [] };
    assert.deepEqual(await h1!.status(), empty);
    assert.equal(await h1!.resume(), false);
    const unknown = await h1!.status("ccc333");
    assert.deepEqual([unknown.version?.hash, unknown.halted, unknown.hosts], ["ccc333", null, []]);
  });

  await t.step("finish() with a failure halts the version even without a slot", async () => {
    await using g = rollout();
    const [h1, h2] = await g.addMany(2);
    await h1!.finish(V1, { outcome: "aborted", ok: false, detail: "pre-restart failed" });
    const reason = 'host "h1" reported aborted: pre-restart failed';
    assert.deepEqual(await h2!.acquire(V1, never), { kind: "halted", reason });
    const status = await h1!.status();
    assert.deepEqual(status.version, V1);
    assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome]), [
      ["h1", "failed", "aborted"],
      ["h2", "skipped", "skipped"],
    ]);
  });

  await t.step("acquire() of a version the host already finished answers go again", async () => {
    await using g = rollout();
    const [h1] = await g.addMany(1);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    await h1!.finish(V1, OK);
    assert.deepEqual(await h1!.acquire(V1, never), GO);
    assert.deepEqual((await h1!.status()).hosts.map((h) => [h.hostId, h.state]), [
      ["h1", "restarting"],
    ]);
  });

  await t.step("close() mid-restart frees the slot; a canary's halts the version", async () => {
    await using g = rollout({ maxParallel: 2, canary: 1 });
    const [h1, h2, h3] = await g.addMany(3);
    assert.deepEqual(await h1!.acquire(V1, never), GO_CANARY);
    await h1!.finish(V1, OK);
    assert.deepEqual(await h2!.acquire(V1, never), GO);
    await h2!.close();
    let status = await h3!.status();
    assert.deepEqual(status.slots, []);
    assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.detail]), [
      ["h1", "done", ""],
      ["h2", "restarting", "shut down"],
    ]);
    assert.deepEqual(await h3!.acquire(V2, never), GO_CANARY);
    await h3!.close();
    const reason = 'canary host "h3" shut down before finishing';
    status = await h1!.status();
    assert.deepEqual(status.halted, { reason, by: "h3", at: status.halted?.at });
    assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome]), [
      ["h3", "failed", "lost"],
    ]);
    assert.deepEqual(await h1!.acquire(V2, never), { kind: "halted", reason });
  });

  await t.step("bad options and versions are refused with RangeError", async () => {
    await using g = rollout();
    await assert.rejects(g.add("h1", { maxParallel: 0 }), {
      name: "RangeError",
      message: 'Cannot use fleet maximum "0": must be an integer >= 1',
    });
    await assert.rejects(g.add("h1", { canary: -1 }), RangeError);
    await assert.rejects(g.add("h1", { group: "a{b}" }), RangeError);
    await assert.rejects(g.add(""), RangeError);
    const host = await g.add("h1");
    await assert.rejects(host.acquire({ hash: "a:b", label: "x" }, never), RangeError);
  });
}

/** The rendered message of a record (values are interpolated bare). */
export function text(record: LogRecord): string {
  return renderMessage(record);
}
