/**
 * An in-memory supervisord behind a real {@link SupervisorClient}: it is a Transport that decodes
 * each XML-RPC call with our codec and answers like supervisord 4.2.5 (same method names, fields
 * and fault codes), so unit tests exercise the whole client path without sockets. The contract
 * in tests/support/supervisor_contract.ts runs the same scenarios against it and against a real
 * supervisord (tests/integration/supervisor_contract_real_test.ts), which keeps it honest.
 *
 * Failures can be injected: `failNext(method, n)` makes the next n calls of a method (or of
 * `system.multicall` containing it) throw SupervisorUnavailableError (or the error `{ error }`
 * makes: a proxy's HttpProtocolError, a SupervisorAuthError...) — after applying the call when
 * `{ applied: true }`, as when an answer is lost on the way back.
 *
 * Times: `start`, `stop` and `now` come from the `clock` passed to the constructor (a FakeClock
 * makes catch-up testable).
 *
 * @module
 */
import { SupervisorUnavailableError } from "../../lib/errors.ts";
import type { Clock } from "../../lib/clock.ts";
import { SupervisorClient } from "../../lib/supervisor/client.ts";
import {
  Fault,
  isRunningState,
  ProcessState,
  type ProcessStateName,
} from "../../lib/supervisor/states.ts";
import type { Transport } from "../../lib/supervisor/transport.ts";
import type { XmlRpcValue } from "../../lib/supervisor/xmlrpc.ts";
import { decodeMethodCall, encodeFault, encodeMethodResponse } from "./xmlrpc_server.ts";

interface FakeProcess {
  name: string;
  group: string;
  state: ProcessStateName;
  pid: number;
  /** Process states a start goes through, one per getAllProcessInfo poll. */
  startPath: ProcessStateName[];
  /** Epoch seconds of the last spawn and the last exit, 0 when never (`laststart`, `laststop`). */
  start: number;
  stop: number;
  spawnerr: string;
  exitstatus: number;
  /** Set by `missingCommand`: startProcess answers NO_FILE with it. */
  notFound?: string;
}

/** supervisord's spawnerr for a process that exits before its startsecs. */
const EXITED_TOO_QUICKLY = "Exited too quickly (process log may have details)";

class RpcError extends Error {
  constructor(readonly code: number, text: string) {
    super(text);
  }
}

export class FakeSupervisor implements Transport {
  readonly url = "unix:///fake/supervisor.sock";
  readonly #clock: Pick<Clock, "now">;
  readonly processes = new Map<string, FakeProcess>();
  readonly calls: string[] = [];
  /** Every program addProcessGroup created, in order (a re-creation shows up once per add). */
  readonly adds: string[] = [];
  /** Program definitions by namespec, for addProcessGroup (see `define`). */
  readonly definitions = new Map<string, { autostart: boolean }>();
  #nextPid = 1000;
  #failures = new Map<string, { count: number; applied: boolean; error?: () => Error }>();

  /** @param options.clock Where `start`, `stop` and `now` come from. @default {Date.now} */
  constructor(options: { clock?: Pick<Clock, "now"> } = {}) {
    this.#clock = options.clock ?? { now: () => Date.now() };
  }

  /**
   * Adds `group:name` RUNNING (or in `state`), as supervisord would show it: started now unless
   * STOPPED (never started); FATAL/BACKOFF exited too quickly, EXITED exited 0, both just now.
   */
  add(namespec: string, state: ProcessStateName = "RUNNING"): this {
    const [group, name] = namespec.split(":") as [string, string];
    const running = state === "RUNNING" || state === "STARTING";
    const ended = ["BACKOFF", "FATAL", "EXITED"].includes(state);
    this.processes.set(namespec, {
      name,
      group,
      state,
      pid: running ? this.#nextPid++ : 0,
      startPath: ["STARTING", "RUNNING"],
      start: state === "STOPPED" ? 0 : this.#nowSec(),
      stop: ended ? this.#nowSec() : 0,
      spawnerr: state === "BACKOFF" || state === "FATAL" ? EXITED_TOO_QUICKLY : "",
      exitstatus: 0,
    });
    return this;
  }

  /** Defines `group:name` in the configuration, so that addProcessGroup can (re-)create it. */
  define(namespec: string, options: { autostart?: boolean } = {}): this {
    this.definitions.set(namespec, { autostart: options.autostart ?? true });
    return this;
  }

  /** What a start of `namespec` goes through from now on, e.g. ["STARTING", "BACKOFF", "FATAL"]. */
  onStart(namespec: string, path: ProcessStateName[]): this {
    this.#get(namespec).startPath = path;
    return this;
  }

  failNext(
    method: string,
    count = 1,
    options: { applied?: boolean; error?: () => Error } = {},
  ): this {
    this.#failures.set(method, {
      count,
      applied: options.applied ?? false,
      ...(options.error ? { error: options.error } : {}),
    });
    return this;
  }

  client(): SupervisorClient {
    return new SupervisorClient(this);
  }

  /**
   * Makes `namespec`'s command one that does not exist: startProcess answers NO_FILE, and a
   * FATAL or BACKOFF process shows supervisord's spawnerr (it never ran, so `stop` is 0).
   */
  missingCommand(namespec: string, command: string): this {
    const process = this.#get(namespec);
    process.notFound = `can't find command '${command}'`;
    if (process.state === "FATAL" || process.state === "BACKOFF") {
      process.spawnerr = process.notFound;
      process.stop = 0;
    }
    return this;
  }

  post(body: string): Promise<string> {
    const { method, params } = decodeMethodCall(body);
    const inner = method === "system.multicall"
      ? (params[0] as { methodName: string }[]).map((c) => c.methodName)
      : [method];
    const failure = inner.map((m) => this.#failures.get(m)).find((f) => f && f.count > 0);
    if (failure && !failure.applied) {
      failure.count--;
      return Promise.reject(failure.error?.() ?? this.#unavailable());
    }
    let answer: string;
    try {
      answer = encodeMethodResponse(this.#dispatch(method, params));
    } catch (error) {
      if (!(error instanceof RpcError)) throw error;
      answer = encodeFault(error.code, error.message);
    }
    if (failure) {
      failure.count--;
      return Promise.reject(failure.error?.() ?? this.#unavailable());
    }
    return Promise.resolve(answer);
  }

  #unavailable() {
    return new SupervisorUnavailableError(this.url, "closed-mid-response", "injected failure");
  }

  #get(namespec: string): FakeProcess {
    const process = this.processes.get(
      namespec.includes(":") ? namespec : `${namespec}:${namespec}`,
    );
    if (!process) throw new RpcError(Fault.BAD_NAME, `BAD_NAME: ${namespec}`);
    return process;
  }

  #dispatch(method: string, params: XmlRpcValue[]): XmlRpcValue {
    this.calls.push(method);
    switch (method) {
      case "system.multicall":
        return (params[0] as { methodName: string; params: XmlRpcValue[] }[]).map((call) => {
          try {
            return this.#dispatch(call.methodName, call.params);
          } catch (error) {
            if (!(error instanceof RpcError)) throw error;
            return { faultCode: error.code, faultString: error.message };
          }
        });
      case "supervisor.removeProcessGroup": {
        const members = this.#members(params[0] as string);
        if (members.length === 0) throw new RpcError(Fault.BAD_NAME, `BAD_NAME: ${params[0]}`);
        if (members.some((p) => !["STOPPED", "EXITED", "FATAL"].includes(p.state))) {
          throw new RpcError(Fault.STILL_RUNNING, `STILL_RUNNING: ${params[0]}`);
        }
        for (const p of members) this.processes.delete(`${p.group}:${p.name}`);
        return true;
      }
      case "supervisor.addProcessGroup": {
        const group = params[0] as string;
        if (this.#members(group).length > 0) {
          throw new RpcError(Fault.ALREADY_ADDED, `ALREADY_ADDED: ${group}`);
        }
        const defined = [...this.definitions].filter(([n]) => n.startsWith(`${group}:`));
        if (defined.length === 0) throw new RpcError(Fault.BAD_NAME, `BAD_NAME: ${group}`);
        for (const [namespec, { autostart }] of defined) {
          this.add(namespec, "STOPPED");
          this.adds.push(namespec);
          // supervisord autostarts on its next loop: here, at once.
          if (autostart) this.#dispatch("supervisor.startProcess", [namespec, false]);
        }
        return true;
      }
      case "supervisor.getAllProcessInfo":
        return [...this.processes.values()].sort(lexical).map((p) => this.#info(p));
      case "supervisor.stopProcess":
        return this.#stop(params[0] as string, params[1] !== false);
      case "supervisor.startProcess":
        return this.#start(params[0] as string, params[1] !== false);
      case "supervisor.getProcessInfo":
        return this.#info(this.#get(params[0] as string));
      case "supervisor.getState":
        return { statecode: 1, statename: "RUNNING" };
      case "supervisor.startProcessGroup":
      case "supervisor.stopProcessGroup": {
        // rpcinterface.py make_allfunc: each member not (or still) running, one status each.
        const stop = method === "supervisor.stopProcessGroup";
        const group = [...this.processes.values()].filter((p) => p.group === params[0]);
        if (group.length === 0) throw new RpcError(Fault.BAD_NAME, `BAD_NAME: ${params[0]}`);
        return group.filter((p) => isRunningState(p.state) === stop).map((p) => {
          const namespec = `${p.group}:${p.name}`;
          try {
            if (stop) this.#stop(namespec, params[1] !== false);
            else this.#start(namespec, params[1] !== false);
            return { name: p.name, group: p.group, status: Fault.SUCCESS, description: "OK" };
          } catch (error) {
            if (!(error instanceof RpcError)) throw error;
            return { name: p.name, group: p.group, status: error.code, description: error.message };
          }
        });
      }
      default:
        throw new RpcError(Fault.UNKNOWN_METHOD, "UNKNOWN_METHOD");
    }
  }

  /** One poll moves every process one step: STOPPING → STOPPED, along its start path. */
  #members(group: string): FakeProcess[] {
    return [...this.processes.values()].filter((p) => p.group === group);
  }

  #info(process: FakeProcess & { pending?: ProcessStateName[] }): XmlRpcValue {
    const info = {
      name: process.name,
      group: process.group,
      state: ProcessState[process.state],
      statename: process.state,
      pid: process.pid,
      start: process.start,
      stop: process.stop,
      now: this.#nowSec(),
      spawnerr: process.spawnerr,
      exitstatus: process.exitstatus,
      logfile: "",
      stdout_logfile: "",
      stderr_logfile: "",
      description: describe(process, this.#nowSec()),
    };
    this.#step(process);
    return info;
  }

  #nowSec(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  /** Moves `process` one step: STOPPING → STOPPED, or along its start path (process.py finish). */
  #step(process: FakeProcess & { pending?: ProcessStateName[] }): void {
    if (process.state === "STOPPING") {
      this.#ended(process, "STOPPED", -1); // `sleep` dies of SIGTERM: supervisord records -1
    } else if (process.pending && process.pending.length > 0) {
      const next = process.pending.shift()!;
      if (next === "BACKOFF" || next === "EXITED") this.#ended(process, next, 0);
      else if (next === "STARTING") this.#spawned(process); // a retry after BACKOFF
      else process.state = next;
      if (next === "BACKOFF") process.spawnerr = EXITED_TOO_QUICKLY;
    }
  }

  #ended(process: FakeProcess, state: ProcessStateName, exitstatus: number): void {
    process.state = state;
    process.pid = 0;
    process.stop = this.#nowSec();
    process.exitstatus = exitstatus;
  }

  /** process.py spawn(): a new pid and start time, no spawnerr or exit status yet. */
  #spawned(process: FakeProcess): void {
    process.state = "STARTING";
    process.pid = this.#nextPid++;
    process.start = this.#nowSec();
    process.spawnerr = "";
    process.exitstatus = 0;
  }

  /** stopProcess: wait=true answers once it is down; wait=false while it is still going down. */
  #stop(namespec: string, wait: boolean): true {
    const process = this.#get(namespec);
    if (!isRunningState(process.state)) {
      throw new RpcError(Fault.NOT_RUNNING, `NOT_RUNNING: ${namespec}`);
    }
    process.state = "STOPPING";
    if (wait) this.#step(process);
    return true;
  }

  /** startProcess: wait=true follows the start path to RUNNING, or faults like onwait(). */
  #start(namespec: string, wait: boolean): true {
    const process: FakeProcess & { pending?: ProcessStateName[] } = this.#get(namespec);
    // supervisord looks the command up before anything else.
    if (process.notFound) throw new RpcError(Fault.NO_FILE, `NO_FILE: ${process.notFound}`);
    if (isRunningState(process.state)) {
      throw new RpcError(Fault.ALREADY_STARTED, `ALREADY_STARTED: ${namespec}`);
    }
    this.#spawned(process);
    process.pending = [...process.startPath.slice(1)];
    while (wait && process.state === "STARTING" && process.pending.length > 0) {
      this.#step(process);
    }
    // #step moved it on: read the state afresh.
    if (!wait || (process.state as ProcessStateName) === "RUNNING") return true;
    if (process.spawnerr) throw new RpcError(Fault.SPAWN_ERROR, `SPAWN_ERROR: ${namespec}`);
    throw new RpcError(Fault.ABNORMAL_TERMINATION, `ABNORMAL_TERMINATION: ${namespec}`);
  }
}

/** getAllProcessInfo's order: by group name, then by name (`_getAllProcesses(lexical=True)`). */
function lexical(a: FakeProcess, b: FakeProcess): number {
  return a.group === b.group ? compare(a.name, b.name) : compare(a.group, b.group);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `description` as rpcinterface.py `_interpretProcessInfo` writes it. */
function describe(process: FakeProcess, nowSec: number): string {
  const two = (n: number) => String(n).padStart(2, "0");
  switch (process.state) {
    case "RUNNING": {
      const up = Math.max(0, nowSec - process.start);
      const days = Math.floor(up / 86400);
      const clock = `${Math.floor(up % 86400 / 3600)}:${two(Math.floor(up % 3600 / 60))}:${
        two(up % 60)
      }`;
      const uptime = days > 0 ? `${days} day${days === 1 ? "" : "s"}, ${clock}` : clock;
      return `pid ${process.pid}, uptime ${uptime}`;
    }
    case "FATAL":
    case "BACKOFF":
      return process.spawnerr || `unknown error (try "tail ${process.name}")`;
    case "STOPPED":
    case "EXITED": {
      if (!process.start) return "Not started";
      // strftime('%b %d %I:%M %p') in local time.
      const at = new Date(process.stop * 1000);
      const hour = at.getHours() % 12 || 12;
      return `${MONTHS[at.getMonth()]} ${two(at.getDate())} ${two(hour)}:${two(at.getMinutes())} ${
        at.getHours() < 12 ? "AM" : "PM"
      }`;
    }
    default:
      return "";
  }
}
