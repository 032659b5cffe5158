/**
 * RedisFleet against a real redis-server (one per test, started and always stopped by
 * `tests/support/redis.ts`): slots, FIFO, leases, canaries, halts, a Redis restart mid-rollout,
 * authentication and unreachable servers. Leases are short (1.5 s) so expiry shows in real time.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
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
import { freePort, PausableProxy, type RedisServer, startRedis } from "../support/redis.ts";

const V1: FleetVersion = { hash: "aaa111", label: "v1" };
const V2: FleetVersion = { hash: "bbb222", label: "v2" };
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

/** The rendered message of a record (values are interpolated bare). */
function text(record: LogRecord): string {
  return record.message.map(String).join("");
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

Deno.test("RedisFleet.acquire() keeps 8 hosts to 2 slots and grants them in arrival order", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 8, { maxParallel: 2 });
  let holding = 0;
  let maxHolding = 0;
  const order: string[] = [];
  const runs: Promise<void>[] = [];
  for (const [i, host] of hosts.entries()) {
    runs.push((async () => {
      const decision = await host.acquire(V1, new AbortController().signal);
      assert.deepEqual(decision, { kind: "go", canary: false });
      order.push(`h${i + 1}`);
      maxHolding = Math.max(maxHolding, ++holding);
      await sleep(50 + 25 * i); // distinct hold times: no two slots free at the same moment
      holding--;
      await host.finish(V1, OK);
    })());
    await registered(hosts[0]!, `h${i + 1}`); // arrival order h1, h2, …
  }
  await Promise.all(runs);
  assert.equal(maxHolding, 2);
  // h1 and h2 are granted at once (in either order of resolution), then one by one.
  assert.deepEqual(order.slice(0, 2).sort(), ["h1", "h2"]);
  assert.deepEqual(order.slice(2), ["h3", "h4", "h5", "h6", "h7", "h8"]);
  const status = await hosts[0]!.status();
  assert.equal(status.version?.label, "v1");
  assert.deepEqual(
    status.hosts.map((h) => [h.hostId, h.state]),
    hosts.map((_, i) => [`h${i + 1}`, "done"]),
  );
  assert.deepEqual(status.slots, []);
});

Deno.test("RedisFleet.acquire() frees a dead holder's slot after its lease, not before", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 2);
  const [dead, next] = hosts as unknown as [RedisFleet, RedisFleet];
  assert.deepEqual(await dead.acquire(V1, never()), { kind: "go", canary: false });
  await dead.abandon();
  const started = Date.now();
  assert.deepEqual(await next.acquire(V1, never()), { kind: "go", canary: false });
  const waited = Date.now() - started;
  assert.ok(waited >= LEASE_MS - 400 && waited < LEASE_MS + 1_000, `waited ${waited} ms`);
  const status = await next.status();
  assert.deepEqual(status.slots, ["h2"]);
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.detail]), [
    ["h1", "restarting", "stopped renewing its lease"],
    ["h2", "restarting", ""],
  ]);
  await next.finish(V1, OK);
});

Deno.test("RedisFleet keeps a slot renewed past its lease while the holder restarts", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 2);
  const [holder, next] = hosts as unknown as [RedisFleet, RedisFleet];
  await holder.acquire(V1, never());
  const waiting = next.acquire(V1, never());
  assert.equal(await settledWithin(waiting, 2 * LEASE_MS), "pending");
  await holder.finish(V1, OK);
  assert.deepEqual(await settledWithin(waiting, 500), { kind: "go", canary: false });
  await next.finish(V1, OK);
});

Deno.test("RedisFleet.release() frees the slot without an outcome; acquire() queues the host again", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 2);
  const [h1, h2] = hosts as unknown as [RedisFleet, RedisFleet];
  assert.deepEqual(await h1.acquire(V1, never()), { kind: "go", canary: false });
  const waiting = h2.acquire(V1, never());
  await registered(h1, "h2");
  await h1.release(V1);
  await h1.release(V1); // idempotent
  assert.deepEqual(await settledWithin(waiting, 2_000), { kind: "go", canary: false });
  // Past several leases and heartbeat TTLs: h1 is still registered, nothing halted.
  await sleep(2 * LEASE_MS);
  const status = await h1.status();
  assert.equal(status.halted, null);
  assert.deepEqual(status.slots, ["h2"]);
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome, h.detail]), [
    ["h1", "waiting", null, "gave its slot back; queues again when it can restart"],
    ["h2", "restarting", null, ""],
  ]);
  const again = h1.acquire(V1, never());
  assert.equal(await settledWithin(again, 300), "pending");
  await h2.finish(V1, OK);
  assert.deepEqual(await settledWithin(again, 2_000), { kind: "go", canary: false });
  await h1.finish(V1, OK);
  assert.deepEqual((await h1.status()).hosts.map((h) => h.state), ["done", "done"]);
  await h2.close();
  await assert.rejects(h2.release(V1), FleetUnavailableError);
});

Deno.test("RedisFleet: a holder cut off from Redis past its lease loses its slot; never 2 holders at max 1", async () => {
  await using redis = await startRedis();
  await using proxy = new PausableProxy(redis.port);
  const records = await captureFleetLog();
  try {
    await using h1 = new RedisFleet(proxy.url, null, {
      group: "web",
      hostId: "h1",
      maxParallel: 1,
      canary: 0,
      leaseMs: LEASE_MS,
      pollMs: 50,
      connectTimeoutMs: 500,
      commandTimeoutMs: 500,
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
  } finally {
    await reset();
  }
});

Deno.test("RedisFleet.join() refuses a second live process with the same id until the first is gone", async () => {
  await using redis = await startRedis();
  const refusal = (instance: string) =>
    new RegExp(
      `^Cannot join fleet "web" as "h1": another releasemon process already uses that id \\(${instance}; if that process is gone, the id is free within [\\d.]+ (ms|seconds?)\\); give each host a unique --fleet-id$`,
    );
  await using first = fleet(redis, "h1", { instance: 'pid 101 on "web-a"' });
  await first.join();
  await sleep(2 * LEASE_MS); // the claim outlives its TTL while its process lives
  await using second = fleet(redis, "h1", { instance: 'pid 202 on "web-b"' });
  const error = await second.join().then(() => null, (e: unknown) => e);
  assert.ok(error instanceof FleetIdentityError, String(error));
  assert.match(error.message, refusal('pid 101 on "web-a"'));
  await assert.rejects(second.acquire(V1, never()), FleetIdentityError);
  // Other ids, and the same id in another group, are fine.
  await using other = fleet(redis, "h2");
  await other.join();
  await using elsewhere = fleet(redis, "h1", { group: "api" });
  await elsewhere.join();
  // A clean shutdown frees the id at once.
  await first.close();
  await using third = fleet(redis, "h1", { instance: 'pid 303 on "web-a"' });
  await third.join();
  assert.deepEqual(await third.acquire(V1, never()), { kind: "go", canary: false });
  // A crash leaves the claim behind for at most one lease.
  await third.abandon();
  await using fourth = fleet(redis, "h1", { instance: 'pid 404 on "web-a"' });
  await assert.rejects(fourth.join(), {
    name: "FleetIdentityError",
    message: refusal('pid 303 on "web-a"'),
  });
  const deadline = Date.now() + 4 * LEASE_MS;
  for (;;) {
    const joined = await fourth.join().then(() => true, (e: unknown) => {
      if (!(e instanceof FleetIdentityError)) throw e;
      return false;
    });
    if (joined) break;
    assert.ok(Date.now() < deadline, "the crashed process's claim never expired");
    await sleep(50);
  }
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

Deno.test("RedisFleet.acquire() claims the id when join() was not possible at start-up", async () => {
  await using redis = await startRedis();
  await using first = fleet(redis, "h1");
  assert.deepEqual(await first.acquire(V1, never()), { kind: "go", canary: false });
  await using second = fleet(redis, "h1");
  await assert.rejects(second.acquire(V2, never()), { name: "FleetIdentityError" });
  await first.finish(V1, OK);
  assert.deepEqual((await first.status()).hosts.map((h) => [h.hostId, h.state]), [["h1", "done"]]);
});

Deno.test("RedisFleet with canary 1 lets nobody go before the canary's success", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 4, { maxParallel: 3, canary: 1 });
  const [canary, ...others] = hosts as unknown as [RedisFleet, ...RedisFleet[]];
  assert.deepEqual(await canary.acquire(V1, never()), { kind: "go", canary: true });
  const waiting = others.map((host) => host.acquire(V1, never()));
  assert.equal(await settledWithin(Promise.race(waiting), 600), "pending");
  await canary.finish(V1, OK);
  const decisions = await settledWithin(Promise.all(waiting), 500);
  assert.deepEqual(decisions, Array(3).fill({ kind: "go", canary: false }));
  for (const host of others) await host.finish(V1, OK);
  const status = await canary.status(V1.hash);
  assert.deepEqual(status.hosts.map((h) => h.state), Array(4).fill("done"));
});

Deno.test("RedisFleet halts the version when the canary dies mid-restart", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 2, { maxParallel: 2, canary: 1 });
  const [canary, other] = hosts as unknown as [RedisFleet, RedisFleet];
  await canary.acquire(V1, never());
  const waiting = other.acquire(V1, never());
  await canary.abandon();
  const reason = 'canary host "h1" stopped renewing its lease before finishing';
  assert.deepEqual(await settledWithin(waiting, LEASE_MS + 1_000), { kind: "halted", reason });
  const status = await other.status();
  assert.equal(status.halted?.reason, reason);
  assert.equal(status.halted?.by, "h1");
});

Deno.test("RedisFleet.finish() with a failure halts waiting hosts promptly; resume() clears it", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 5);
  const [failing, a, b, late, after] = hosts as unknown as [
    RedisFleet,
    RedisFleet,
    RedisFleet,
    RedisFleet,
    RedisFleet,
  ];
  await failing.acquire(V1, never());
  const waiting = [a.acquire(V1, never())];
  await registered(failing, "h2");
  waiting.push(b.acquire(V1, never()));
  await registered(failing, "h3");
  const before = Date.now();
  await failing.finish(V1, { outcome: "partial", ok: false, detail: "web:app: SPAWN_ERROR" });
  const reason = 'host "h1" reported partial: web:app: SPAWN_ERROR';
  assert.deepEqual(await settledWithin(Promise.all(waiting), 300), [
    { kind: "halted", reason },
    { kind: "halted", reason },
  ]);
  assert.ok(Date.now() - before < 300);
  assert.deepEqual(await late.acquire(V1, never()), { kind: "halted", reason });
  await a.finish(V1, { outcome: "failed", ok: false, detail: "later failure" });
  const status = await failing.status();
  assert.equal(status.halted?.reason, reason, "the first failure's reason wins");
  assert.equal(status.halted?.by, "h1");
  assert.ok(Math.abs((status.halted?.at ?? 0) - before) < 1_000);
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state]), [
    ["h1", "failed"],
    ["h2", "skipped"],
    ["h3", "skipped"],
    ["h4", "skipped"],
  ]);
  assert.equal(await after.resume(), true);
  assert.equal(await after.resume(), false);
  assert.deepEqual(await after.acquire(V1, never()), { kind: "go", canary: false });
  await after.finish(V1, OK);
  assert.deepEqual(await b.acquire(V2, never()), { kind: "go", canary: false }, "v2 starts fresh");
  await b.finish(V2, OK);
  assert.equal((await a.status()).version?.hash, V2.hash);
});

Deno.test("RedisFleet.finish() is idempotent", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 2);
  const [first, second] = hosts as unknown as [RedisFleet, RedisFleet];
  await first.acquire(V1, never());
  const waiting = second.acquire(V1, never());
  await first.finish(V1, OK);
  await first.finish(V1, OK);
  await first.finish(V1, { outcome: "failed", ok: false, detail: "late" });
  assert.deepEqual(await waiting, { kind: "go", canary: false });
  const status = await first.status();
  assert.equal(status.halted, null);
  assert.deepEqual(status.hosts.map((h) => [h.hostId, h.state, h.outcome]), [
    ["h1", "done", "success"],
    ["h2", "restarting", null],
  ]);
  assert.deepEqual(status.slots, ["h2"]);
});

Deno.test("RedisFleet.acquire() rejects with the abort reason and gives its place up", async () => {
  await using redis = await startRedis();
  await using hosts = await fleets(redis, 3);
  const [holder, quitter, next] = hosts as unknown as [RedisFleet, RedisFleet, RedisFleet];
  await holder.acquire(V1, never());
  const controller = new AbortController();
  const aborted = quitter.acquire(V1, controller.signal);
  await sleep(100);
  const waiting = next.acquire(V1, never());
  await sleep(100);
  controller.abort(new Error("stopping"));
  await assert.rejects(aborted, { message: "stopping" });
  await sleep(100);
  await holder.finish(V1, OK);
  assert.deepEqual(await settledWithin(waiting, 500), { kind: "go", canary: false });
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
    await assert.rejects(host.acquire(V1, never()), {
      name: "FleetUnavailableError",
      message:
        `Cannot connect to Redis at "redis://127.0.0.1:${port}/0": no answer within 300 ms; is the server up and reachable?`,
    });
    assert.ok(Date.now() - started < 1_500);
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
