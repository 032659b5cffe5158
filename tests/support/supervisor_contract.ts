/**
 * supervisord's XML-RPC contract as releasemon relies on it, written once and run against two
 * subjects: the in-memory {@link FakeSupervisor} (tests/unit/supervisor_contract_fake_test.ts) and
 * a real supervisord 4.2.5 (tests/integration/supervisor_contract_real_test.ts). Both must give
 * the same answers, so what unit tests learn from the fake holds for the real thing.
 *
 * Each subject is set up with {@link CONTRACT_PROGRAMS}: a real supervisord gets one `[program]`
 * per entry, the fake the equivalent `add`/`onStart`/`missingCommand`. Steps run in order on one
 * subject and each leaves the programs as the next one expects. Values that differ between runs
 * (pids, times, log paths) are compared normalised: present or not, and in the right window of the
 * subject's clock; everything else (fields, types, state names, fault names, codes and texts)
 * must be equal.
 *
 * Reference: supervisor 4.2.5 `rpcinterface.py` (faults, group calls, getProcessInfo) and
 * `process.py` (states, `laststart`/`laststop`, `spawnerr`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { staleTargets } from "../../lib/catch_up.ts";
import { SupervisorFault } from "../../lib/errors.ts";
import type { ProcessInfo, SupervisorClient } from "../../lib/supervisor/client.ts";
import { ProcessState, type ProcessStateName } from "../../lib/supervisor/states.ts";
import type { XmlRpcValue } from "../../lib/supervisor/xmlrpc.ts";
import { waitFor } from "./supervisord.ts";

/**
 * What a program's command does: `runs` stays up (`sleep 3600`); `missing` names a command that
 * does not exist; `crashes` exits 3 well before its startsecs (so supervisord gives up: FATAL);
 * `exits` exits 0 at once with startsecs=0 (EXITED).
 */
export type Behaviour = "runs" | "missing" | "crashes" | "exits";

export interface ContractProgram {
  group: string;
  name: string;
  behaviour: Behaviour;
  autostart: boolean;
}

/** The command of every `missing` program. */
export const MISSING_COMMAND = "/nonexistent/releasemon-contract";

/** The programs every subject is set up with (startretries=0 everywhere). */
export const CONTRACT_PROGRAMS: readonly ContractProgram[] = [
  { group: "idle", name: "idle", behaviour: "runs", autostart: true },
  { group: "manual", name: "manual", behaviour: "runs", autostart: false },
  { group: "missing", name: "missing", behaviour: "missing", autostart: true },
  { group: "crash", name: "crash", behaviour: "crashes", autostart: true },
  { group: "once", name: "once", behaviour: "exits", autostart: true },
  { group: "web", name: "a", behaviour: "runs", autostart: true },
  { group: "web", name: "b", behaviour: "runs", autostart: true },
  { group: "batch", name: "ok", behaviour: "runs", autostart: false },
  { group: "batch", name: "broken", behaviour: "missing", autostart: false },
];

/** A supervisord (real or fake) set up with {@link CONTRACT_PROGRAMS}. */
export interface ContractSubject {
  readonly client: SupervisorClient;
  /** The subject's clock in epoch seconds: the clock supervisord's `start`/`stop`/`now` use. */
  nowSec(): number;
  /** Returns once {@link nowSec} has moved past its current value. */
  nextSecond(): Promise<void>;
}

const EXITED_TOO_QUICKLY = "Exited too quickly (process log may have details)";
const NOT_FOUND = `can't find command '${MISSING_COMMAND}'`;
/** Every field getProcessInfo answers, with its XML-RPC type. */
const INFO_FIELDS = {
  description: "string",
  exitstatus: "number",
  group: "string",
  logfile: "string",
  name: "string",
  now: "number",
  pid: "number",
  spawnerr: "string",
  start: "number",
  state: "number",
  statename: "string",
  stderr_logfile: "string",
  stdout_logfile: "string",
  stop: "number",
};

/** A ProcessInfo with run-dependent values reduced to what must hold for them. */
interface Normalised {
  namespec: string;
  name: string;
  group: string;
  state: ProcessStateName;
  pid: "set" | 0;
  start: "set" | 0;
  stop: "set" | 0;
  spawnerr: string;
  exitstatus: number;
  description: string;
}

/** `description` with its pid, uptime or stop time replaced by placeholders. */
function descriptionShape(info: ProcessInfo): string {
  return info.description
    .replace(`pid ${info.pid}, `, "pid <pid>, ")
    .replace(/uptime \d+:\d\d:\d\d$/, "uptime <h:mm:ss>")
    .replace(/^[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M$/, "<stop time>");
}

function normalise(info: ProcessInfo): Normalised {
  return {
    namespec: info.namespec,
    name: info.name,
    group: info.group,
    state: info.state,
    pid: info.pid > 0 ? "set" : 0,
    start: info.start > 0 ? "set" : 0,
    stop: info.stop > 0 ? "set" : 0,
    spawnerr: info.spawnerr,
    exitstatus: info.exitstatus,
    description: descriptionShape(info),
  };
}

function expected(
  namespec: string,
  state: ProcessStateName,
  more: Partial<Normalised> = {},
): Normalised {
  const [group, name] = namespec.split(":") as [string, string];
  const running = state === "RUNNING";
  return {
    namespec,
    name,
    group,
    state,
    pid: running ? "set" : 0,
    start: "set",
    stop: 0,
    spawnerr: "",
    exitstatus: 0,
    description: running ? "pid <pid>, uptime <h:mm:ss>" : "",
    ...more,
  };
}

/** Never started: supervisord says so in `description`. */
function notStarted(namespec: string): Normalised {
  return expected(namespec, "STOPPED", { start: 0, description: "Not started" });
}

/** Stopped by stopProcess: `sleep` dies of SIGTERM, which supervisord records as exit status -1. */
function stoppedAfterRun(namespec: string): Normalised {
  return expected(namespec, "STOPPED", {
    stop: "set",
    exitstatus: -1,
    description: "<stop time>",
  });
}

const AFTER_BOOT: Normalised[] = [
  notStarted("batch:broken"),
  notStarted("batch:ok"),
  expected("crash:crash", "FATAL", {
    stop: "set",
    spawnerr: EXITED_TOO_QUICKLY,
    description: EXITED_TOO_QUICKLY,
  }),
  expected("idle:idle", "RUNNING"),
  notStarted("manual:manual"),
  // The command was never found, so no process ever ended: `stop` stays 0.
  expected("missing:missing", "FATAL", { spawnerr: NOT_FOUND, description: NOT_FOUND }),
  expected("once:once", "EXITED", { stop: "set", description: "<stop time>" }),
  expected("web:a", "RUNNING"),
  expected("web:b", "RUNNING"),
];

async function fault(promise: Promise<unknown>): Promise<SupervisorFault> {
  const error = await promise.then(
    (value) => assert.fail(`expected a fault, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
  assert.ok(error instanceof SupervisorFault, `expected a SupervisorFault, got ${error}`);
  return error;
}

function assertFault(
  error: SupervisorFault,
  want: { code: number; faultName: string; faultString: string; method: string },
): void {
  assert.deepEqual(
    {
      code: error.code,
      faultName: error.faultName,
      faultString: error.faultString,
      method: error.method,
    },
    want,
  );
}

/** Polls getProcessInfo until `done`, returning every state seen (consecutive repeats dropped). */
async function follow(
  client: SupervisorClient,
  namespec: string,
  done: (info: ProcessInfo) => boolean,
): Promise<{ seen: ProcessStateName[]; last: ProcessInfo }> {
  const seen: ProcessStateName[] = [];
  const last = await waitFor(`${namespec} to settle`, async () => {
    const info = await client.getProcessInfo(namespec);
    if (seen.at(-1) !== info.state) seen.push(info.state);
    return done(info) ? info : undefined;
  });
  return { seen, last };
}

/** True when `seen` walks along `path` in order (skipping states is fine: polls are sparse). */
function along(seen: readonly ProcessStateName[], path: readonly ProcessStateName[]): boolean {
  let at = 0;
  for (const state of seen) {
    const index = path.indexOf(state, at);
    if (index < 0) return false;
    at = index;
  }
  return true;
}

/** Asserts `start`/`stop`/`now` against the subject's clock read before and after the call. */
function assertWithin(value: number, before: number, after: number, what: string): void {
  assert.ok(before <= value && value <= after, `${what} = ${value}, not in [${before}, ${after}]`);
}

/** Runs the contract as steps of `t` against `subject`. */
export async function supervisorContract(
  t: Deno.TestContext,
  subject: ContractSubject,
): Promise<void> {
  const { client } = subject;
  const bootDone = subject.nowSec();

  await t.step("getState() answers RUNNING", async () => {
    assert.deepEqual(await client.getState(), { code: 1, name: "RUNNING" });
  });

  await t.step("getAllProcessInfo() after boot: lexical order, fields, states", async () => {
    const infos = await waitFor("boot to settle", async () => {
      const infos = await client.getAllProcessInfo();
      return infos.some((i) => i.state === "STARTING" || i.state === "BACKOFF") ? undefined : infos;
    });
    assert.deepEqual(infos.map(normalise), AFTER_BOOT);
    const after = subject.nowSec();
    for (const info of infos) {
      assertWithin(info.now, bootDone, after, `${info.namespec} now`);
      if (info.start > 0) assert.ok(info.start <= info.now, `${info.namespec} started later`);
      if (info.stop > 0) assert.ok(info.start <= info.stop, `${info.namespec} stopped first`);
    }
    // The raw structs: exactly these fields, of these types, and `state` matching `statename`.
    const raw = await client.call("supervisor.getAllProcessInfo") as Record<string, XmlRpcValue>[];
    for (const struct of raw) {
      const types = Object.fromEntries(
        Object.entries(struct).map(([key, value]) => [key, typeof value]),
      );
      assert.deepEqual(Object.fromEntries(Object.entries(types).sort()), INFO_FIELDS);
    }
    assert.deepEqual(
      raw.map((s) => [s.statename, s.state]),
      infos.map((i) => [i.state, ProcessState[i.state]]),
    );
  });

  await t.step("getProcessInfo() of group:name, and of a name alone", async () => {
    const all = await client.getAllProcessInfo();
    const a = await client.getProcessInfo("web:a");
    assert.deepEqual(normalise(a), normalise(all.find((i) => i.namespec === "web:a")!));
    assert.equal(a.pid, all.find((i) => i.namespec === "web:a")!.pid);
    // A name alone means name:name (a program outside any [group]).
    assert.equal((await client.getProcessInfo("idle")).namespec, "idle:idle");
  });

  await t.step("faults: BAD_NAME, NOT_RUNNING, ALREADY_STARTED, NO_FILE", async () => {
    const bad = (method: string, name: string) => ({
      code: 10,
      faultName: "BAD_NAME",
      faultString: `BAD_NAME: ${name}`,
      method: `supervisor.${method}`,
    });
    assertFault(await fault(client.getProcessInfo("nope:x")), bad("getProcessInfo", "nope:x"));
    assertFault(await fault(client.getProcessInfo("web:zzz")), bad("getProcessInfo", "web:zzz"));
    // A name alone is name:name; "a" is only in [group:web].
    assertFault(await fault(client.stopProcess("a")), bad("stopProcess", "a"));
    assertFault(await fault(client.startProcess("nope", false)), bad("startProcess", "nope"));
    assertFault(await fault(client.stopProcessGroup("nope")), bad("stopProcessGroup", "nope"));
    assertFault(await fault(client.startProcessGroup("nope")), bad("startProcessGroup", "nope"));
    assertFault(await fault(client.stopProcess("manual:manual", false)), {
      code: 70,
      faultName: "NOT_RUNNING",
      faultString: "NOT_RUNNING: manual:manual",
      method: "supervisor.stopProcess",
    });
    assertFault(await fault(client.startProcess("idle", true)), {
      code: 60,
      faultName: "ALREADY_STARTED",
      faultString: "ALREADY_STARTED: idle",
      method: "supervisor.startProcess",
    });
    // supervisord looks the command up before spawning: NO_FILE, and the program is untouched.
    assertFault(await fault(client.startProcess("missing", true)), {
      code: 20,
      faultName: "NO_FILE",
      faultString: `NO_FILE: ${NOT_FOUND}`,
      method: "supervisor.startProcess",
    });
    assertFault(await fault(client.startProcess("batch:broken", false)), {
      code: 20,
      faultName: "NO_FILE",
      faultString: `NO_FILE: ${NOT_FOUND}`,
      method: "supervisor.startProcess",
    });
    assert.deepEqual(
      normalise(await client.getProcessInfo("batch:broken")),
      notStarted("batch:broken"),
    );
    assertFault(await fault(client.call("supervisor.noSuchMethod")), {
      code: 1,
      faultName: "UNKNOWN_METHOD",
      faultString: "UNKNOWN_METHOD",
      method: "supervisor.noSuchMethod",
    });
  });

  await t.step(
    "stopProcess(wait=true), startProcess(wait=true): times, pid, catch-up",
    async () => {
      const before = await client.getProcessInfo("idle:idle");
      // Let a second pass: a version appearing now is newer than the running process.
      await subject.nextSecond();
      const appearedAt = subject.nowSec();
      assert.deepEqual(staleTargets([before], appearedAt).map((i) => i.namespec), ["idle:idle"]);

      const stopAsked = subject.nowSec();
      assert.equal(await client.stopProcess("idle:idle", true), true);
      const stopped = await client.getProcessInfo("idle:idle");
      assert.deepEqual(normalise(stopped), stoppedAfterRun("idle:idle"));
      assertWithin(stopped.stop, stopAsked, subject.nowSec(), "stop");
      assert.equal(stopped.start, before.start, "a stop keeps the start time");

      const startAsked = subject.nowSec();
      assert.equal(await client.startProcess("idle:idle", true), true);
      const started = await client.getProcessInfo("idle:idle");
      const startAnswered = subject.nowSec();
      // Answered once RUNNING; the last stop time stays until the next stop.
      assert.deepEqual(normalise(started), expected("idle:idle", "RUNNING", { stop: "set" }));
      assertWithin(started.start, startAsked, startAnswered, "start");
      assertWithin(started.now, started.start, startAnswered, "now");
      assert.equal(started.stop, stopped.stop);
      assert.notEqual(started.pid, before.pid);
      // Catch-up: a program started since the version appeared runs it already.
      assert.deepEqual(staleTargets([started], appearedAt), []);
    },
  );

  await t.step("startProcess(wait=false), stopProcess(wait=false), then poll", async () => {
    const startAsked = subject.nowSec();
    assert.equal(await client.startProcess("manual", false), true);
    const up = await follow(client, "manual:manual", (i) => i.state === "RUNNING");
    assert.ok(along(up.seen, ["STARTING", "RUNNING"]), up.seen.join(" → "));
    assert.deepEqual(normalise(up.last), expected("manual:manual", "RUNNING"));
    assertWithin(up.last.start, startAsked, subject.nowSec(), "start");

    assert.equal(await client.stopProcess("manual", false), true);
    const down = await follow(client, "manual:manual", (i) => i.state === "STOPPED");
    assert.ok(along(down.seen, ["STOPPING", "STOPPED"]), down.seen.join(" → "));
    assert.deepEqual(normalise(down.last), stoppedAfterRun("manual:manual"));
    assert.equal(down.last.start, up.last.start);
  });

  await t.step("a start that exits too quickly: SPAWN_ERROR, then FATAL", async () => {
    const crashed = await client.getProcessInfo("crash:crash");
    // wait=true: supervisord answers when the process is gone before its startsecs.
    assertFault(await fault(client.startProcess("crash", true)), {
      code: 50,
      faultName: "SPAWN_ERROR",
      faultString: "SPAWN_ERROR: crash",
      method: "supervisor.startProcess",
    });
    const failed = await follow(client, "crash:crash", (i) => i.state === "FATAL");
    assert.ok(along(failed.seen, ["BACKOFF", "FATAL"]), failed.seen.join(" → "));
    assert.ok(failed.last.start >= crashed.start, "a start sets the start time");
    assert.deepEqual(normalise(failed.last), AFTER_BOOT.find((i) => i.namespec === "crash:crash"));

    // wait=false: accepted; polls follow it from STARTING through BACKOFF to FATAL.
    assert.equal(await client.startProcess("crash:crash", false), true);
    const again = await follow(client, "crash:crash", (i) => i.state === "FATAL");
    assert.ok(along(again.seen, ["STARTING", "BACKOFF", "FATAL"]), again.seen.join(" → "));
    assert.equal(again.last.pid, 0);
    assert.equal(again.last.spawnerr, EXITED_TOO_QUICKLY);
  });

  await t.step("system.multicall: one result per call, faults as values", async () => {
    const results = await client.multicall([
      { methodName: "supervisor.getState", params: [] },
      { methodName: "supervisor.stopProcess", params: ["nope:x", false] },
      { methodName: "supervisor.startProcess", params: ["idle:idle", false] },
      { methodName: "supervisor.stopProcess", params: ["manual:manual", false] },
      { methodName: "supervisor.startProcess", params: ["missing:missing", false] },
      { methodName: "supervisor.getProcessInfo", params: ["web:b"] },
      { methodName: "supervisor.noSuchMethod", params: [] },
    ]);
    const shapes = results.map((r) =>
      r.ok
        ? { ok: true }
        : { code: r.fault.code, name: r.fault.faultName, text: r.fault.faultString }
    );
    assert.deepEqual(shapes, [
      { ok: true },
      { code: 10, name: "BAD_NAME", text: "BAD_NAME: nope:x" },
      { code: 60, name: "ALREADY_STARTED", text: "ALREADY_STARTED: idle:idle" },
      { code: 70, name: "NOT_RUNNING", text: "NOT_RUNNING: manual:manual" },
      { code: 20, name: "NO_FILE", text: `NO_FILE: ${NOT_FOUND}` },
      { ok: true },
      { code: 1, name: "UNKNOWN_METHOD", text: "UNKNOWN_METHOD" },
    ]);
    assert.deepEqual(results[0]!.ok && results[0]!.value, { statecode: 1, statename: "RUNNING" });
    const info = results[5]!.ok ? results[5]!.value as Record<string, XmlRpcValue> : {};
    assert.deepEqual([info.group, info.name, info.statename], ["web", "b", "RUNNING"]);
  });

  await t.step("stopProcessGroup(), startProcessGroup(): one status per process", async () => {
    const ok = (namespec: string) => ({ namespec, status: "SUCCESS", description: "OK" });
    const sorted = (statuses: { namespec: string }[]) =>
      statuses.sort((x, y) => x.namespec.localeCompare(y.namespec));

    assert.deepEqual(sorted(await client.stopProcessGroup("web", false)), [
      ok("web:a"),
      ok("web:b"),
    ]);
    for (const namespec of ["web:a", "web:b"]) {
      const down = await follow(client, namespec, (i) => i.state === "STOPPED");
      assert.deepEqual(normalise(down.last), stoppedAfterRun(namespec));
    }
    // Only running processes are acted on: nothing to stop is an empty answer, not a fault.
    assert.deepEqual(await client.stopProcessGroup("web", true), []);
    assert.deepEqual(sorted(await client.startProcessGroup("web", true)), [
      ok("web:a"),
      ok("web:b"),
    ]);
    for (const info of (await client.getAllProcessInfo()).filter((i) => i.group === "web")) {
      assert.equal(info.state, "RUNNING", `${info.namespec} RUNNING once the call answered`);
    }
    assert.deepEqual(await client.startProcessGroup("web", false), []);

    // A group call never fails as a whole: the missing command is one status among others.
    assert.deepEqual(sorted(await client.startProcessGroup("batch", true)), [
      { namespec: "batch:broken", status: "NO_FILE", description: `NO_FILE: ${NOT_FOUND}` },
      ok("batch:ok"),
    ]);
    assert.deepEqual(await client.stopProcessGroup("batch", true), [ok("batch:ok")]);
    assert.deepEqual(
      normalise(await client.getProcessInfo("batch:ok")),
      stoppedAfterRun("batch:ok"),
    );
  });
}
