// The fleet contract (tests/support/fleet_contract.ts) against MemoryFleet on a fake clock: the
// same steps the Redis engine passes in tests/integration/fleet_contract_redis_test.ts.
import assert from "node:assert/strict";
import type { Clock } from "../../lib/clock.ts";
import { MemoryFleet, MemoryFleetState } from "../support/memory_fleet.ts";
import { FakeClock } from "../support/fake_clock.ts";
import {
  type ContractHostOptions,
  type CutOffHost,
  fleetContract,
  type FleetSubject,
} from "../support/fleet_contract.ts";

const LEASE_MS = 6_000;
const POLL_MS = 100;
/** MemoryFleet's default for this lease: max(leaseMs / 3, 5 * pollMs). */
const WAITER_TTL_MS = 2_000;

/**
 * A clock whose timers, while cut, are held back and fire only at `heal()`, at the then current
 * time: a host whose every call (renewals included) is stuck on the way to the fleet.
 */
function cuttableClock(clock: Clock): { clock: Clock; cut(): void; heal(): void } {
  let held: (() => void)[] | null = null;
  return {
    clock: {
      now: () => clock.now(),
      setTimer: (callback, delayMs) =>
        clock.setTimer(() => held === null ? callback() : held.push(callback), delayMs),
    },
    cut: () => void (held ??= []),
    heal() {
      const due = held ?? [];
      held = null;
      for (const callback of due) callback();
    },
  };
}

Deno.test("MemoryFleet keeps the fleet contract", async (t) => {
  using clock = new FakeClock();
  const state = new MemoryFleetState();
  const make = (options: ContractHostOptions, hostClock: Clock) =>
    new MemoryFleet(state, { ...options, leaseMs: LEASE_MS, pollMs: POLL_MS, clock: hostClock });
  const subject: FleetSubject = {
    leaseMs: LEASE_MS,
    pollMs: POLL_MS,
    waiterTtlMs: WAITER_TTL_MS,
    host: (options) => Promise.resolve().then(() => make(options, clock)),
    cutOffHost(options): Promise<CutOffHost> {
      const link = cuttableClock(clock);
      return Promise.resolve().then(() => ({
        host: make(options, link.clock),
        cut: link.cut,
        heal: link.heal,
        [Symbol.asyncDispose]: () => Promise.resolve(),
      }));
    },
    now: () => clock.now(),
    elapse: (ms) => clock.tickAsync(ms),
    async until(what, probe, withinMs) {
      const deadline = clock.now() + withinMs;
      for (;;) {
        await clock.runMicrotasks();
        const value = await probe();
        if (value !== undefined) return value;
        assert.ok(clock.now() < deadline, `${what}: not within ${withinMs} ms`);
        await clock.tickAsync(Math.min(POLL_MS, deadline - clock.now()));
      }
    },
    async soon(what, probe) {
      await clock.runMicrotasks();
      const value = await probe();
      assert.ok(value !== undefined, `${what}: not at once`);
      return value;
    },
  };
  await fleetContract(t, subject);
});
