import assert from "node:assert/strict";
import {
  HttpProtocolError,
  SupervisorAuthError,
  SupervisorFault,
  SupervisorUnavailableError,
  XmlRpcSyntaxError,
} from "../../lib/errors.ts";
import { type RestartOptions, restartPrograms } from "../../lib/restart.ts";
import type { ProcessInfo } from "../../lib/supervisor/client.ts";
import { FakeClock } from "../support/fake_clock.ts";
import { FakeSupervisor } from "../support/fake_supervisor.ts";

/** Restarts under fake time: every poll and pause passes at once; `clock` shows the time spent. */
async function restart(
  fake: FakeSupervisor,
  infos: ProcessInfo[],
  shown?: FakeClock,
  options: RestartOptions = {},
) {
  using own = new FakeClock(0);
  const clock = shown ?? own;
  return await clock.runUntilSettled(restartPrograms(fake.client(), infos, { ...options, clock }));
}

async function targets(fake: FakeSupervisor) {
  return await fake.client().getAllProcessInfo();
}

Deno.test("restartPrograms() stops and starts each program, one outcome each", async () => {
  const fake = new FakeSupervisor().add("g:a").add("g:b").add("g:c");
  const before = await targets(fake);
  const result = await restart(fake, before);
  result.restarted.sort();
  assert.deepEqual(result, { restarted: ["g:a", "g:b", "g:c"], failed: [], pending: [] });
  assert.equal(fake.calls.filter((c) => c === "supervisor.stopProcess").length, 3);
  assert.equal(fake.calls.filter((c) => c === "supervisor.startProcess").length, 3);
  for (const info of await targets(fake)) {
    assert.notEqual(info.pid, before.find((b) => b.namespec === info.namespec)!.pid);
  }
});

Deno.test("restartPrograms() still starts what it stopped when the stop answer is lost", async () => {
  const fake = new FakeSupervisor().add("g:a").add("g:b");
  fake.failNext("supervisor.stopProcess", 1, { applied: true });
  const result = await restart(fake, await targets(fake));
  assert.deepEqual(result.restarted.sort(), ["g:a", "g:b"]);
  assert.equal([...fake.processes.values()].every((p) => p.state === "RUNNING"), true);
});

Deno.test("restartPrograms() sends the stop again when it never arrived", async () => {
  const fake = new FakeSupervisor().add("g:a");
  fake.failNext("supervisor.stopProcess", 1);
  const result = await restart(fake, await targets(fake));
  assert.deepEqual(result.restarted, ["g:a"]);
  assert.equal(fake.calls.filter((c) => c === "supervisor.stopProcess").length, 1);
});

Deno.test("restartPrograms() retries a start that could not be sent", async () => {
  const fake = new FakeSupervisor().add("g:a");
  fake.failNext("supervisor.startProcess", 2);
  const result = await restart(fake, await targets(fake));
  assert.deepEqual(result.restarted, ["g:a"]);
  assert.equal(fake.processes.get("g:a")!.state, "RUNNING");
});

Deno.test("restartPrograms() rides out a short outage while polling", async () => {
  const fake = new FakeSupervisor().add("g:a");
  const infos = await targets(fake);
  fake.failNext("supervisor.getAllProcessInfo", 3);
  const result = await restart(fake, infos);
  assert.deepEqual(result.restarted, ["g:a"]);
});

Deno.test("restartPrograms() waits through BACKOFF and reports FATAL with the stderr hint", async () => {
  const fake = new FakeSupervisor().add("g:ok").add("g:flaky").add("g:broken");
  fake.onStart("g:flaky", ["STARTING", "BACKOFF", "STARTING", "RUNNING"]);
  fake.onStart("g:broken", ["STARTING", "BACKOFF", "FATAL"]);
  const result = await restart(fake, await targets(fake));
  assert.deepEqual(result.restarted.sort(), ["g:flaky", "g:ok"]);
  assert.deepEqual(result.failed, [{
    namespec: "g:broken",
    // supervisord's spawnerr for a start that died before its startsecs.
    reason:
      "FATAL after start: Exited too quickly (process log may have details); see that program's stderr log",
  }]);
});

Deno.test("restartPrograms() reports a program removed during the restart", async () => {
  const fake = new FakeSupervisor().add("g:a").add("g:gone");
  const infos = await targets(fake);
  fake.processes.delete("g:gone");
  const result = await restart(fake, infos);
  assert.deepEqual(result.restarted, ["g:a"]);
  assert.equal(result.failed[0]!.namespec, "g:gone");
});

Deno.test("restartPrograms() follows a start whose answer was lost (a slow, large batch)", async () => {
  const fake = new FakeSupervisor().add("g:a").add("g:b");
  fake.failNext("supervisor.startProcess", 1, { applied: true });
  const result = await restart(fake, await targets(fake));
  assert.deepEqual(result, { restarted: ["g:a", "g:b"], failed: [], pending: [] });
  // Started once each: no second start for programs that were already starting.
  assert.equal(fake.calls.filter((c) => c === "supervisor.startProcess").length, 2);
});

Deno.test("restartPrograms() uses one multicall and one poller beyond 16 programs", async () => {
  const fake = new FakeSupervisor();
  for (let i = 0; i < 20; i++) fake.add(`g:p${i}`);
  const result = await restart(fake, await targets(fake));
  assert.equal(result.restarted.length, 20);
  // 20 stops and 20 starts, each inside a multicall: two multicalls of 20 at most.
  assert.ok(fake.calls.filter((c) => c === "system.multicall").length <= 4);
  assert.equal(fake.calls.filter((c) => c === "supervisor.stopProcess").length, 20);
  assert.equal(fake.calls.filter((c) => c === "supervisor.startProcess").length, 20);
});

Deno.test("restartPrograms() fails a program still in BACKOFF after --start-timeout, on its clock", async () => {
  const fake = new FakeSupervisor().add("g:ok").add("g:stuck");
  fake.onStart("g:stuck", ["STARTING", "BACKOFF"]);
  using clock = new FakeClock(0);
  const result = await restart(fake, await targets(fake), clock, { startTimeoutMs: 60_000 });
  assert.deepEqual(result, {
    restarted: ["g:ok"],
    failed: [{ namespec: "g:stuck", reason: "not RUNNING 1 minute after start (--start-timeout)" }],
    pending: [],
  });
  // Given up at the first poll past the timeout (polls are 100 ms apart by then).
  assert.ok(clock.now() > 60_000 && clock.now() <= 60_200, String(clock.now()));
});

Deno.test("restartPrograms() starts what it stopped when aborted, then stops waiting for RUNNING", async () => {
  const fake = new FakeSupervisor().add("g:a").add("g:b");
  const controller = new AbortController();
  controller.abort();
  const options = { signal: controller.signal };
  const result = await restart(fake, await targets(fake), undefined, options);
  // Both were STARTING at the read-back after their starts: not waited for any longer.
  assert.deepEqual(result, { restarted: [], failed: [], pending: ["g:a", "g:b"] });
  assert.equal(fake.calls.filter((c) => c === "supervisor.startProcess").length, 2);
  assert.ok([...fake.processes.values()].every((p) => p.state !== "STOPPED"));
});

/** Each kind of error a call can end in mid-restart. */
const ERROR_KINDS: [string, () => Error][] = [
  ["unreachable", () => new SupervisorUnavailableError(URL, "connection-refused", "refused")],
  ["a proxy's 502", () => new HttpProtocolError(URL, 502, "the server answered 502 Bad Gateway")],
  ["a changed password", () => new SupervisorAuthError(URL, "wrong username or password")],
  ["a garbled answer", () => new XmlRpcSyntaxError("Cannot decode XML-RPC response: truncated")],
  ["a fault", () => new SupervisorFault(6, "SHUTDOWN_STATE", "SHUTDOWN_STATE", "system.multicall")],
  ["an unexpected error", () => new Error("something unexpected")],
];
const URL = "unix:///fake/supervisor.sock";

for (const [kind, error] of ERROR_KINDS) {
  for (const count of [2, 20]) {
    Deno.test(`restartPrograms() starts again what it stopped after ${kind} (${count} programs)`, async () => {
      const fake = new FakeSupervisor();
      for (let i = 0; i < count; i++) fake.add(`g:p${i}`);
      const infos = await targets(fake);
      // Between the stops and the starts: every start and a few polls fail, then calls succeed.
      fake.failNext("supervisor.startProcess", 4, { error });
      const result = await restart(fake, infos);
      assert.deepEqual(result.failed, []);
      assert.equal(result.restarted.length, count);
      assert.ok([...fake.processes.values()].every((p) => p.state === "RUNNING"));
    });
  }

  Deno.test(`restartPrograms() reports every stopped program failed when ${kind} lasts`, async () => {
    const fake = new FakeSupervisor().add("g:a").add("g:b");
    const infos = await targets(fake);
    fake.failNext("supervisor.startProcess", Infinity, { error });
    fake.failNext("supervisor.getAllProcessInfo", Infinity, { error });
    using clock = new FakeClock(0);
    const result = await restart(fake, infos, clock);
    assert.deepEqual(result.restarted, []);
    assert.deepEqual(result.pending, []);
    assert.deepEqual(result.failed.map((f) => f.namespec).sort(), ["g:a", "g:b"]);
    for (const failure of result.failed) {
      assert.ok(failure.reason.includes(error().message), failure.reason);
      assert.match(failure.reason, /^lost contact with supervisord mid-restart: /);
      assert.match(failure.reason, /check "supervisorctl status g:[ab]"$/);
    }
    // Gave up only after the grace period.
    assert.ok(clock.now() >= 30_000, String(clock.now()));
    assert.ok([...fake.processes.values()].every((p) => p.state === "STOPPED"));
  });
}
