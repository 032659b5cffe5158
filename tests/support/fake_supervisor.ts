/**
 * An in-memory supervisord behind a real {@link SupervisorClient}: it is a Transport that decodes
 * each XML-RPC call with our codec and answers like supervisord 4.2.5 (same method names, fields
 * and fault codes), so unit tests exercise the whole client path without sockets. Integration
 * tests against the real supervisord keep it honest.
 *
 * Failures can be injected: `failNext(method, n)` makes the next n calls of a method (or of
 * `system.multicall` containing it) throw SupervisorUnavailableError (or the error `{ error }`
 * makes: a proxy's HttpProtocolError, a SupervisorAuthError...) — after applying the call when
 * `{ applied: true }`, as when an answer is lost on the way back.
 *
 * @module
 */
import { SupervisorUnavailableError } from "../../lib/errors.ts";
import { SupervisorClient } from "../../lib/supervisor/client.ts";
import { Fault, ProcessState, type ProcessStateName } from "../../lib/supervisor/states.ts";
import type { Transport } from "../../lib/supervisor/transport.ts";
import {
  decodeMethodCall,
  encodeFault,
  encodeMethodResponse,
  type XmlRpcValue,
} from "../../lib/supervisor/xmlrpc.ts";

interface FakeProcess {
  name: string;
  group: string;
  state: ProcessStateName;
  pid: number;
  /** Process states a start goes through, one per getAllProcessInfo poll. */
  startPath: ProcessStateName[];
}

class RpcError extends Error {
  constructor(readonly code: number, text: string) {
    super(text);
  }
}

export class FakeSupervisor implements Transport {
  readonly url = "unix:///fake/supervisor.sock";
  readonly processes = new Map<string, FakeProcess>();
  readonly calls: string[] = [];
  /** Every program addProcessGroup created, in order (a re-creation shows up once per add). */
  readonly adds: string[] = [];
  /** Program definitions by namespec, for addProcessGroup (see `define`). */
  readonly definitions = new Map<string, { autostart: boolean }>();
  #nextPid = 1000;
  #failures = new Map<string, { count: number; applied: boolean; error?: () => Error }>();

  /** Adds `group:name` RUNNING (or in `state`). */
  add(namespec: string, state: ProcessStateName = "RUNNING"): this {
    const [group, name] = namespec.split(":") as [string, string];
    const running = state === "RUNNING" || state === "STARTING";
    this.processes.set(namespec, {
      name,
      group,
      state,
      pid: running ? this.#nextPid++ : 0,
      startPath: ["STARTING", "RUNNING"],
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
      case "supervisor.stopProcessGroup": {
        const members = this.#members(params[0] as string);
        if (members.length === 0) throw new RpcError(Fault.BAD_NAME, `BAD_NAME: ${params[0]}`);
        return members.filter((p) => ["RUNNING", "STARTING", "BACKOFF"].includes(p.state)).map(
          (p) => {
            p.state = params[1] === true ? "STOPPED" : "STOPPING";
            if (p.state === "STOPPED") p.pid = 0;
            return { name: p.name, group: p.group, status: Fault.SUCCESS, description: "OK" };
          },
        );
      }
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
        return [...this.processes.values()].map((p) => this.#info(p));
      case "supervisor.stopProcess": {
        const process = this.#get(params[0] as string);
        if (!["RUNNING", "STARTING", "BACKOFF"].includes(process.state)) {
          throw new RpcError(Fault.NOT_RUNNING, `NOT_RUNNING: ${params[0]}`);
        }
        // wait=true answers once it is down; wait=false while it is still going down.
        process.state = params[1] === true ? "STOPPED" : "STOPPING";
        if (process.state === "STOPPED") process.pid = 0;
        return true;
      }
      case "supervisor.startProcess": {
        const process = this.#get(params[0] as string);
        if (["RUNNING", "STARTING", "BACKOFF"].includes(process.state)) {
          throw new RpcError(Fault.ALREADY_STARTED, `ALREADY_STARTED: ${params[0]}`);
        }
        process.state = "STARTING";
        process.pid = this.#nextPid++;
        (process as FakeProcess & { pending?: ProcessStateName[] }).pending = [
          ...process.startPath.slice(1),
        ];
        return true;
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
      start: 0,
      stop: 0,
      now: 0,
      spawnerr: "",
      exitstatus: 0,
      logfile: "",
      stdout_logfile: "",
      stderr_logfile: "",
      description: "",
    };
    if (process.state === "STOPPING") {
      process.state = "STOPPED";
      process.pid = 0;
    } else if (process.pending && process.pending.length > 0) {
      process.state = process.pending.shift()!;
      if (process.state === "FATAL" || process.state === "EXITED") process.pid = 0;
    }
    return info;
  }
}
