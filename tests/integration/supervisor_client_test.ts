// The typed client against a real supervisord (Debian's supervisor 4.2.5) over a real unix socket
// and a real inet_http_server: every method, and the fault paths.
import assert from "node:assert/strict";
import {
  SupervisorAuthError,
  SupervisorFault,
  SupervisorUnavailableError,
  UsageError,
} from "../../lib/errors.ts";
import { createClient } from "../../lib/supervisor/client.ts";
import { startSupervisord, waitFor } from "../support/supervisord.ts";

const SLEEPER = "sleep 3600";

Deno.test("SupervisorClient against a real supervisord on a unix socket", async (t) => {
  await using sv = await startSupervisord({
    programs: [
      { name: "web", command: SLEEPER },
      { name: "w1", command: SLEEPER },
      { name: "w2", command: SLEEPER },
      {
        name: "crasher",
        command: "sh -c 'exit 3'",
        options: { startsecs: 1, autostart: false, startretries: 0 },
      },
      { name: "idle", command: SLEEPER, options: { autostart: false } },
    ],
    groups: { workers: ["w1", "w2"] },
  });
  const client = sv.client();
  await waitFor("all autostart programs RUNNING", async () => {
    const infos = await client.getAllProcessInfo();
    return infos.filter((i) => i.state === "RUNNING").length === 3 ? true : undefined;
  });

  await t.step("getState() reports RUNNING", async () => {
    assert.deepEqual(await client.getState(), { code: 1, name: "RUNNING" });
  });

  await t.step("call() answers supervisor.getPID and supervisor.getSupervisorVersion", async () => {
    assert.equal(await client.call("supervisor.getPID"), sv.pid);
    assert.equal(await client.call("supervisor.getSupervisorVersion"), "4.2.5");
  });

  await t.step("getAllProcessInfo() gives namespecs and typed states", async () => {
    const infos = await client.getAllProcessInfo();
    const byNamespec = Object.fromEntries(infos.map((i) => [i.namespec, i]));
    assert.deepEqual(Object.keys(byNamespec).sort(), [
      "crasher:crasher",
      "idle:idle",
      "web:web",
      "workers:w1",
      "workers:w2",
    ]);
    assert.equal(byNamespec["workers:w1"]!.state, "RUNNING");
    assert.equal(byNamespec["workers:w1"]!.group, "workers");
    assert.ok(byNamespec["workers:w1"]!.pid > 0);
    assert.equal(byNamespec["idle:idle"]!.state, "STOPPED");
    assert.equal(byNamespec["idle:idle"]!.pid, 0);
  });

  await t.step("stopProcess() and startProcess() wait, and the pid changes", async () => {
    const before = await client.getProcessInfo("web");
    assert.equal(await client.stopProcess("web"), true);
    assert.equal((await client.getProcessInfo("web:web")).state, "STOPPED");
    assert.equal(await client.startProcess("web"), true);
    const after = await client.getProcessInfo("web");
    assert.equal(after.state, "RUNNING");
    assert.notEqual(after.pid, before.pid);
  });

  await t.step("stopProcess() of a stopped program throws NOT_RUNNING", async () => {
    const error = await client.stopProcess("idle").catch((e) => e);
    assert.ok(error instanceof SupervisorFault);
    assert.equal(error.faultName, "NOT_RUNNING");
    assert.equal(error.code, 70);
    assert.equal(error.method, "supervisor.stopProcess");
  });

  await t.step("startProcess() of a started program throws ALREADY_STARTED", async () => {
    const error = await client.startProcess("web").catch((e) => e);
    assert.ok(error instanceof SupervisorFault);
    assert.equal(error.faultName, "ALREADY_STARTED");
  });

  await t.step("an unknown name throws BAD_NAME naming it", async () => {
    const error = await client.getProcessInfo("nope").catch((e) => e);
    assert.ok(error instanceof SupervisorFault);
    assert.equal(error.faultName, "BAD_NAME");
    assert.match(error.message, /supervisor\.getProcessInfo failed: BAD_NAME: BAD_NAME: nope/);
  });

  await t.step("startProcess() of a program that dies during startsecs throws", async () => {
    const error = await client.startProcess("crasher").catch((e) => e);
    assert.ok(error instanceof SupervisorFault);
    assert.ok(["ABNORMAL_TERMINATION", "SPAWN_ERROR"].includes(error.faultName), error.faultName);
  });

  await t.step(
    "stopProcess(wait=false) returns at once; the state then reaches STOPPED",
    async () => {
      assert.equal(await client.stopProcess("web", false), true);
      await waitFor("web STOPPED", async () => {
        const info = await client.getProcessInfo("web");
        return info.state === "STOPPED" ? info : undefined;
      });
      assert.equal(await client.startProcess("web", false), true);
      await waitFor("web RUNNING", async () => {
        const info = await client.getProcessInfo("web");
        return info.state === "RUNNING" ? info : undefined;
      });
    },
  );

  await t.step("stopProcessGroup() and startProcessGroup() report per process", async () => {
    const stopped = await client.stopProcessGroup("workers");
    assert.deepEqual(
      stopped.map((s) => [s.namespec, s.status]).sort(),
      [["workers:w1", "SUCCESS"], ["workers:w2", "SUCCESS"]],
    );
    const started = await client.startProcessGroup("workers");
    assert.deepEqual(started.map((s) => s.status), ["SUCCESS", "SUCCESS"]);
    const infos = await client.getAllProcessInfo();
    assert.ok(infos.filter((i) => i.group === "workers").every((i) => i.state === "RUNNING"));
  });

  await t.step("multicall() returns one outcome per call, faults included", async () => {
    const results = await client.multicall([
      { methodName: "supervisor.getState", params: [] },
      { methodName: "supervisor.stopProcess", params: ["idle", false] },
      { methodName: "supervisor.getProcessInfo", params: ["nope"] },
    ]);
    assert.equal(results.length, 3);
    assert.equal(results[0]!.ok, true);
    assert.ok(!results[1]!.ok && results[1]!.fault.faultName === "NOT_RUNNING");
    assert.ok(!results[2]!.ok && results[2]!.fault.faultName === "BAD_NAME");
    assert.deepEqual(await client.multicall([]), []);
  });

  await t.step("an unknown method throws UNKNOWN_METHOD", async () => {
    const error = await client.call("supervisor.noSuchThing").catch((e) => e);
    assert.ok(error instanceof SupervisorFault);
    assert.equal(error.faultName, "UNKNOWN_METHOD");
  });

  await t.step("supervisord gone → SupervisorUnavailableError naming the URL", async () => {
    await sv.stop();
    const error = await client.getState().catch((e) => e);
    assert.ok(error instanceof SupervisorUnavailableError, String(error));
    assert.ok(["socket-missing", "connection-refused"].includes(error.reason), error.reason);
    assert.ok(error.message.includes(sv.unixUrl), error.message);
  });
});

Deno.test("SupervisorClient with a username and password, on unix and inet servers", async (t) => {
  const auth = { username: "deploy", password: "s3cret-Pa55" };
  await using sv = await startSupervisord({
    programs: [{ name: "app", command: SLEEPER }],
    auth,
    inet: true,
  });

  await t.step("right credentials work on the unix socket", async () => {
    assert.equal((await sv.client().getState()).name, "RUNNING");
  });

  await t.step("right credentials work on inet_http_server", async () => {
    const client = sv.client({ url: sv.inetUrl! });
    assert.equal((await client.getState()).name, "RUNNING");
    const infos = await client.getAllProcessInfo();
    assert.deepEqual(infos.map((i) => i.namespec), ["app:app"]);
  });

  for (const [label, url] of [["unix", sv.unixUrl], ["inet", sv.inetUrl!]] as const) {
    await t.step(
      `a wrong password on ${label} → SupervisorAuthError without the password`,
      async () => {
        const client = sv.client({ url, password: "wrong-Pa55word" });
        const error = await client.getState().catch((e) => e);
        assert.ok(error instanceof SupervisorAuthError, String(error));
        assert.match(error.message, /401/);
        assert.ok(!error.message.includes("wrong-Pa55word"));
        assert.ok(!error.message.includes(auth.password));
      },
    );
  }

  await t.step("no credentials at all → SupervisorAuthError", async () => {
    const client = createClient({ serverUrl: sv.unixUrl });
    const error = await client.getState().catch((e) => e);
    assert.ok(error instanceof SupervisorAuthError);
  });
});

Deno.test("createClient() rejects URLs supervisorctl would not take", () => {
  assert.throws(() => createClient({ serverUrl: "ftp://example.com" }), UsageError);
  assert.throws(() => createClient({ serverUrl: "" }), UsageError);
});
