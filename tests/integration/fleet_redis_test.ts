/**
 * RedisFleet against a real redis-server (one per test, started and always stopped by
 * `tests/support/redis.ts`): what only the Redis engine has. A network partition seen in Redis's
 * own slot set, `--fleet-id` claims through `startFleet`, a Redis restart that loses its data
 * mid-rollout, authentication, TLS, unreachable servers and wake-up latency. The rules every
 * engine shares (slots, arrival order, leases, canaries, halts, release, identity claims) are in
 * the contract: tests/integration/fleet_contract_redis_test.ts. Leases are short (1.5 s).
 */
import assert from "node:assert/strict";
import {
  FleetIdentityError,
  FleetUnavailableError,
  type FleetVersion,
  type HostOutcome,
} from "../../lib/fleet/fleet.ts";
import { RedisFleet, type RedisFleetOptions } from "../../lib/fleet/redis_fleet.ts";
import { type Config, parseConfig } from "../../lib/config.ts";
import { parseFleetUrl } from "../../lib/fleet/fleet_url.ts";
import { startFleet } from "../../lib/fleet/setup.ts";
import { RedisConnection } from "../../lib/fleet/_redis_connection.ts";
import { text } from "../support/fleet_contract.ts";
import { withLog } from "../support/log_capture.ts";
import { freePort, PausableProxy, type RedisServer, startRedis } from "../support/redis.ts";

const V1: FleetVersion = { hash: "aaa111", label: "v1" };
const LEASE_MS = 1_500;
const OK: HostOutcome = { outcome: "success", ok: true, detail: "" };

function fleet(redis: RedisServer, hostId: string, options: Partial<RedisFleetOptions> = {}) {
  return new RedisFleet(redis.url, redis.password, {
    group: "web",
    hostId,
    maxParallel: 1,
    canary: 0,
    leaseMs: LEASE_MS,
    pollMs: 50,
    ...(redis.caPem === null ? {} : { tlsCaPem: redis.caPem }),
    ...options,
  });
}

async function fleets(
  redis: RedisServer,
  count: number,
  options: Partial<RedisFleetOptions> = {},
): Promise<RedisFleet[] & AsyncDisposable> {
  const list = Array.from({ length: count }, (_, i) => fleet(redis, `h${i + 1}`, options));
  await Promise.all(list.map((f) => f.connect()));
  return Object.assign(list, {
    async [Symbol.asyncDispose]() {
      await Promise.all(list.map((f) => f.close()));
    },
  });
}

/** Waits until `hostId` shows in the rollout record (it has arrived). */
async function registered(fleet: RedisFleet, hostId: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await fleet.status()).hosts.some((h) => h.hostId === hostId)) {
    assert.ok(Date.now() < deadline, `${hostId} did not register`);
    await sleep(5);
  }
}

const never = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to "pending" when `promise` has not settled within `ms`. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<"pending">((resolve) =>
    timer = setTimeout(() => resolve("pending"), ms)
  );
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("RedisFleet: a holder cut off from Redis past its lease loses its slot; never 2 holders at max 1", async () => {
  await using redis = await startRedis();
  await using proxy = new PausableProxy(redis.port);
  await withLog(async (records) => {
    await using h1 = new RedisFleet(proxy.url, null, {
      group: "web",
      hostId: "h1",
      maxParallel: 1,
      canary: 0,
      leaseMs: LEASE_MS,
      pollMs: 50,
      // Short enough that calls frozen by the pause give up within the test, long enough that a
      // loaded machine still connects through the proxy before and after it.
      connectTimeoutMs: 2_000,
      commandTimeoutMs: 2_000,
    });
    await using h2 = fleet(redis, "h2");
    // Samples the raw slot set (no clean-up of expired leases) until stopped.
    const sampler = new RedisConnection(parseFleetUrl(redis.url), null);
    const sampleScript = { name: "sample", source: "return redis.call('ZRANGE', KEYS[1], 0, -1)" };
    const samples: string[][] = [];
    let sampling = true;
    const sampled = (async () => {
      while (sampling) {
        samples.push(
          (await sampler.eval(sampleScript, ["releasemon:{web}:slots"], [])) as string[],
        );
        await sleep(10);
      }
    })();
    const maxHolders = () => Math.max(0, ...samples.map((s) => s.length));
    const lostLine = () =>
      records.find((r) => r.level === "error" && text(r).startsWith("Lost the fleet slot"));
    try {
      assert.deepEqual(await h1.acquire(V1, never()), { kind: "go", canary: false });
      const waiting = h2.acquire(V1, never());
      await registered(h2, "h2");
      proxy.pause(); // h1's connection freezes, longer than its lease
      assert.deepEqual(await settledWithin(waiting, 4 * LEASE_MS), { kind: "go", canary: false });
      proxy.resume(); // what h1 sent meanwhile lands now, and it renews again
      const deadline = Date.now() + 10_000;
      while (lostLine() === undefined && maxHolders() <= 1 && Date.now() < deadline) {
        await sleep(20);
      }
      await sleep(LEASE_MS); // more renewal periods: h1 must not come back
      assert.ok(maxHolders() <= 1, `Redis showed ${maxHolders()} holders at --fleet-max 1`);
      assert.equal(
        lostLine() && text(lostLine()!),
        'Lost the fleet slot for version "v1": its lease expired before a renewal reached the fleet; another host may be restarting now',
      );
      assert.deepEqual(samples.at(-1), ["h2"]);
      await h1.finish(V1, { outcome: "success", ok: true, detail: "" });
      const status = await h2.status();
      assert.deepEqual(status.slots, ["h2"]);
      assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.detail]), [
        [
          "h1",
          "done",
          "lost its slot: the lease expired while it was restarting; another host may have restarted meanwhile",
        ],
        ["h2", "restarting", ""],
      ]);
      await h2.finish(V1, OK);
    } finally {
      sampling = false;
      await sampled;
      await sampler.close();
    }
    assert.ok(samples.some((s) => s.includes("h2")), "the slot set was sampled while h2 held it");
  }, { lowestLevel: "info" });
});

Deno.test("startFleet() refuses to start a second releasemon with the same --fleet-id", async () => {
  await using redis = await startRedis();
  const config = (id: string) => {
    const result = parseConfig(
      ["/srv/app/VERSION", "-a", "--fleet", redis.url, "--fleet-name", "web", "--fleet-id", id]
        .concat("--fleet-lease", "2"),
      { SUPERVISOR_SERVER_URL: "unix:///tmp/rm-none.sock" },
      { color: false },
    );
    assert.equal(result.kind, "run");
    return (result as { config: Config }).config;
  };
  const first = await startFleet(config("web-1"));
  try {
    const error = await startFleet(config("web-1")).then(
      async (fleet) => {
        await fleet.close();
        return null;
      },
      (e: unknown) => e,
    );
    assert.ok(error instanceof FleetIdentityError, String(error));
    assert.match(
      error.message,
      new RegExp(
        `^Cannot join fleet "web" as "web-1": another releasemon process already uses that id \\(pid ${Deno.pid} on ".+"; if that process is gone, the id is free within [\\d.]+ (ms|seconds?)\\); give each host a unique --fleet-id$`,
      ),
    );
    const other = await startFleet(config("web-2"));
    await other.close();
  } finally {
    await first.close();
  }
  const again = await startFleet(config("web-1"));
  await again.close();
  // A crashed releasemon's claim is waited out: supervisord's restart of it gets in.
  const crashed = fleet(redis, "web-1", { leaseMs: 1_000 });
  await crashed.join();
  await crashed.abandon();
  const restarted = await startFleet(config("web-1"));
  await restarted.close();
});

Deno.test("RedisFleet survives a Redis restart mid-rollout: every host finishes once", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 6, { maxParallel: 2, connectTimeoutMs: 500 });
  const goes = new Map<string, number>();
  let holding = 0;
  let maxHolding = 0;
  let finished = 0;
  const retry = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof FleetUnavailableError)) throw error;
        await sleep(100);
      }
    }
  };
  const runs = hosts.map(async (host, i) => {
    const id = `h${i + 1}`;
    const decision = await retry(() => host.acquire(V1, never()));
    assert.equal(decision.kind, "go");
    goes.set(id, (goes.get(id) ?? 0) + 1);
    maxHolding = Math.max(maxHolding, ++holding);
    await sleep(600);
    holding--;
    await retry(() => host.finish(V1, OK));
    finished++;
  });
  while (finished < 2) await sleep(20);
  await redis.restart();
  await Promise.all(runs);
  assert.deepEqual([...goes.values()], Array(6).fill(1));
  assert.ok(maxHolding <= 2, `${maxHolding} hosts held a slot at once`);
  const status = await hosts[0]!.status();
  assert.ok(status.hosts.length >= 4, "hosts after the restart are recorded again");
  assert.ok(status.hosts.every((h) => h.state === "done"));
  assert.deepEqual(status.slots, []);
});

Deno.test("RedisFleet grants no slot for half a lease after Redis lost its data", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 1, { connectTimeoutMs: 500 });
  const host = hosts[0]!;
  assert.equal((await host.acquire(V1, never())).kind, "go");
  await host.finish(V1, OK);
  await redis.restart(); // no persistence: every key, the epoch included, is gone
  const V2: FleetVersion = { hash: "bbb222", label: "v2" };
  // The first call after the restart may meet Redis still starting: retried, as releasemon does.
  let first = Number.NaN;
  for (;;) {
    try {
      first = Date.now();
      const decision = await host.acquire(V2, never());
      assert.equal(decision.kind, "go");
      break;
    } catch (error) {
      if (!(error instanceof FleetUnavailableError)) throw error;
      await sleep(50);
    }
  }
  // This host knew the old epoch: its first call after the loss starts the grace, and the slot
  // comes only once half a lease has passed (load can only make it later).
  const waited = Date.now() - first;
  assert.ok(waited >= LEASE_MS / 2 - 50, `granted after ${waited} ms`);
  await host.finish(V2, OK);
});

Deno.test("RedisFleet reports a wrong or missing password without showing it", async () => {
  await using redis = await startRedis({ password: "s3cret-pass" });
  const url = redis.url;
  const cases: [string | null, RegExp][] = [
    ["wrong-pass-42", /the password was refused \(WRONGPASS\); check RELEASEMON_FLEET_PASSWORD$/],
    [null, /the server requires a password \(NOAUTH\); set RELEASEMON_FLEET_PASSWORD$/],
  ];
  for (const [password, detail] of cases) {
    const host = new RedisFleet(url, password, {
      group: "web",
      hostId: "h1",
      maxParallel: 1,
      canary: 0,
    });
    try {
      const error = await host.acquire(V1, never()).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof FleetUnavailableError, String(error));
      assert.ok(error.message.startsWith(`Cannot `), error.message);
      assert.ok(error.message.includes(`"${url}"`), error.message);
      assert.match(error.message, detail);
      assert.ok(!error.message.includes("wrong-pass-42") && !error.message.includes("s3cret"));
    } finally {
      await host.close();
    }
  }
  await using good = fleet(redis, "h1");
  assert.deepEqual(await good.acquire(V1, never()), { kind: "go", canary: false });
  await good.finish(V1, OK);
});

Deno.test("RedisFleet fails fast with FleetUnavailableError when nothing listens", async () => {
  const port = freePort();
  await using host = new RedisFleet(`redis://127.0.0.1:${port}/0`, "pw-not-shown", {
    group: "web",
    hostId: "h1",
    maxParallel: 1,
    canary: 0,
  });
  const started = Date.now();
  await assert.rejects(host.acquire(V1, never()), {
    name: "FleetUnavailableError",
    message:
      `Cannot connect to Redis at "redis://127.0.0.1:${port}/0": connection refused (ECONNREFUSED); is redis-server running?`,
  });
  assert.ok(Date.now() - started < 2_000);
});

Deno.test("RedisFleet gives up within the deadline on a server that never answers", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    await using host = new RedisFleet(`redis://127.0.0.1:${port}/0`, null, {
      group: "web",
      hostId: "h1",
      maxParallel: 1,
      canary: 0,
      connectTimeoutMs: 300,
    });
    const started = Date.now();
    // Which of the two timers fires first (the handshake's answer, or on a loaded machine the
    // client's own connect timer) is up to the scheduler; either way it gives up, and says why.
    await assert.rejects(host.acquire(V1, never()), (error: unknown) => {
      assert.ok(error instanceof FleetUnavailableError);
      assert.match(
        error.message,
        new RegExp(
          `^Cannot connect to Redis at "redis://127\\.0\\.0\\.1:${port}/0": ` +
            "(no answer within 300 ms|connection timed out); is the server up and reachable\\?$",
        ),
      );
      return true;
    });
    // Bounded: "never" would hang here until the test runner's own limit.
    assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
  }
});

Deno.test("RedisFleet talks TLS to a rediss:// server", async () => {
  await using redis = await startRedis({ tls: true });
  await using host = fleet(redis, "h1");
  assert.equal(host.url, redis.url);
  assert.deepEqual(await host.acquire(V1, never()), { kind: "go", canary: false });
  await host.finish(V1, OK);
  assert.deepEqual((await host.status()).hosts.map((h) => h.state), ["done"]);
});

Deno.test("RedisFleet hands 20 hosts one slot each in turn within tens of ms per host", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 20, { leaseMs: 30_000 });
  const started = Date.now();
  await Promise.all(hosts.map(async (host) => {
    await host.acquire(V1, never());
    await host.finish(V1, OK);
  }));
  const perHostMs = (Date.now() - started) / 20;
  assert.ok(perHostMs < 100, `${perHostMs.toFixed(1)} ms per host`);
});
