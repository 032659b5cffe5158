// The fleet contract (tests/support/fleet_contract.ts) against RedisFleet and one real
// redis-server for the whole file (each step uses a group of its own): the same steps MemoryFleet
// passes in tests/unit/fleet_contract_memory_test.ts. Leases are short (1.5 s) so expiry shows in
// real time; waits are on observable conditions under deadlines.
import assert from "node:assert/strict";
import { RedisFleet, type RedisFleetOptions } from "../../lib/fleet/redis_fleet.ts";
import {
  type ContractHostOptions,
  fleetContract,
  type FleetSubject,
} from "../support/fleet_contract.ts";
import { PausableProxy, startRedis } from "../support/redis.ts";

const LEASE_MS = 1_500;
const POLL_MS = 50;
const WAITER_TTL_MS = 1_000;
/** Extra time a condition may take on a busy machine, beyond what the engine promises. */
const SLACK_MS = 3_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function connected(
  url: string,
  password: string | null,
  options: RedisFleetOptions,
): Promise<RedisFleet> {
  const fleet = new RedisFleet(url, password, options);
  try {
    await fleet.connect();
  } catch (error) {
    await fleet.close();
    throw error;
  }
  return fleet;
}

Deno.test("RedisFleet keeps the fleet contract", async (t) => {
  await using redis = await startRedis();
  const timing = { leaseMs: LEASE_MS, pollMs: POLL_MS, waiterTtlMs: WAITER_TTL_MS };
  const until: FleetSubject["until"] = async (what, probe, withinMs) => {
    const deadline = Date.now() + withinMs + SLACK_MS;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      assert.ok(Date.now() < deadline, `${what}: not within ${withinMs} ms (+${SLACK_MS} ms)`);
      await sleep(10);
    }
  };
  const subject: FleetSubject = {
    ...timing,
    host: (options: ContractHostOptions) =>
      connected(redis.url, redis.password, { ...options, ...timing }),
    async cutOffHost(options) {
      const proxy = new PausableProxy(redis.port);
      try {
        const host = await connected(proxy.url, redis.password, {
          ...options,
          ...timing,
          connectTimeoutMs: 500,
          commandTimeoutMs: 500,
        });
        return {
          host,
          cut: () => proxy.pause(),
          heal: () => proxy.resume(),
          [Symbol.asyncDispose]: () => proxy[Symbol.asyncDispose](),
        };
      } catch (error) {
        await proxy[Symbol.asyncDispose]();
        throw error;
      }
    },
    now: () => Date.now(),
    elapse: sleep,
    until,
    soon: (what, probe) => until(what, probe, 0),
  };
  await fleetContract(t, subject);
});
