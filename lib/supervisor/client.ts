/**
 * A typed client for supervisord's XML-RPC interface (the `supervisor.*` and `system.*` methods
 * releasemon needs), over any {@link Transport}.
 *
 * Faults become {@link SupervisorFault} with supervisord's fault name; process states become
 * {@link ProcessStateName}. Group calls and multicall return one outcome per process, never a
 * whole-call failure for one bad program.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import { SupervisorFault, XmlRpcFault, XmlRpcSyntaxError } from "../errors.ts";
import {
  faultName,
  type ProcessStateName,
  processStateName,
  supervisorStateName,
} from "./states.ts";
import { parseServerUrl } from "./server_url.ts";
import { HttpTransport, type Transport } from "./transport.ts";
import {
  decodeMethodResponse,
  encodeMethodCall,
  XmlRpcDouble,
  type XmlRpcStruct,
  type XmlRpcValue,
} from "./xmlrpc.ts";

const log = getLogger(["releasemon", "rpc"]);

/** One process as `getProcessInfo`/`getAllProcessInfo` describe it. */
export interface ProcessInfo {
  name: string;
  group: string;
  /** `group:name`, the name every other call takes. */
  namespec: string;
  state: ProcessStateName;
  pid: number;
  /** Seconds since the epoch; 0 when never started. */
  start: number;
  stop: number;
  /** supervisord's clock when it answered. */
  now: number;
  spawnerr: string;
  exitstatus: number;
  description: string;
}

/** The per-process result of a group call (`stopProcessGroup`, `startProcessGroup`). */
export interface ProcessStatus {
  namespec: string;
  /** supervisord's fault name for `status`, `SUCCESS` when it worked. */
  status: string;
  description: string;
}

/** The result of one call inside `system.multicall`. */
export type MulticallResult =
  | { ok: true; value: XmlRpcValue }
  | { ok: false; fault: SupervisorFault };

export interface MulticallEntry {
  methodName: string;
  params: XmlRpcValue[];
}

/** One program as configured (`getAllConfigInfo`), which may differ from what runs. */
export interface ProgramConfig {
  name: string;
  group: string;
  namespec: string;
  autostart: boolean;
}

/** What `reloadConfig` reports, as group names. */
export interface ConfigChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

/** The namespec supervisord uses: `group:name`. */
export function namespecOf(group: string, name: string): string {
  return `${group}:${name}`;
}

export class SupervisorClient {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** The server URL, for messages (never with credentials). */
  get url(): string {
    return this.#transport.url;
  }

  /** Calls any method; a `<fault>` becomes a {@link SupervisorFault}. */
  async call(
    method: string,
    params: readonly XmlRpcValue[] = [],
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<XmlRpcValue> {
    const started = performance.now();
    const body = encodeMethodCall(method, params);
    const text = await this.#transport.post(body, options);
    try {
      const value = decodeMethodResponse(text);
      log.debug("{method} answered in {ms} ms", {
        method,
        ms: Math.round(performance.now() - started),
      });
      return value;
    } catch (error) {
      if (error instanceof XmlRpcFault) {
        throw new SupervisorFault(error.code, faultName(error.code), error.faultString, method);
      }
      throw error;
    }
  }

  /** supervisord's own state (RUNNING, RESTARTING, SHUTDOWN, FATAL). */
  async getState(): Promise<{ code: number; name: string }> {
    const value = struct(await this.call("supervisor.getState"), "supervisor.getState");
    const code = int(value, "statecode");
    return { code, name: supervisorStateName(code) ?? str(value, "statename") };
  }

  async getAllProcessInfo(): Promise<ProcessInfo[]> {
    return processInfoList(await this.call("supervisor.getAllProcessInfo"));
  }

  async getProcessInfo(namespec: string): Promise<ProcessInfo> {
    const value = await this.call("supervisor.getProcessInfo", [namespec]);
    return toProcessInfo(struct(value, "supervisor.getProcessInfo"));
  }

  /** Stops one process; with `wait`, answers once it is stopped. */
  async stopProcess(
    namespec: string,
    wait = true,
    options: { timeoutMs?: number } = {},
  ): Promise<boolean> {
    const value = await this.call("supervisor.stopProcess", [namespec, wait], options);
    return asBool(value, "stopProcess");
  }

  /** Starts one process; with `wait`, answers once it is RUNNING (after its startsecs). */
  async startProcess(namespec: string, wait = true): Promise<boolean> {
    return asBool(await this.call("supervisor.startProcess", [namespec, wait]), "startProcess");
  }

  async stopProcessGroup(group: string, wait = true): Promise<ProcessStatus[]> {
    return toStatuses(await this.call("supervisor.stopProcessGroup", [group, wait]));
  }

  async startProcessGroup(group: string, wait = true): Promise<ProcessStatus[]> {
    return toStatuses(await this.call("supervisor.startProcessGroup", [group, wait]));
  }

  /** Re-reads supervisord's configuration files; reports the groups that changed. */
  async reloadConfig(): Promise<ConfigChanges> {
    const value = await this.call("supervisor.reloadConfig");
    // supervisord answers [[added, changed, removed]].
    const outer = Array.isArray(value) ? value[0] : undefined;
    if (!Array.isArray(outer) || outer.length !== 3) {
      throw shapeError("supervisor.reloadConfig", "[[added, changed, removed]]");
    }
    const [added, changed, removed] = outer.map((list) => stringList(list, "reloadConfig"));
    return { added: added ?? [], changed: changed ?? [], removed: removed ?? [] };
  }

  /** The configured (not running) programs: name, group and autostart of each. */
  async getAllConfigInfo(): Promise<ProgramConfig[]> {
    const value = await this.call("supervisor.getAllConfigInfo");
    if (!Array.isArray(value)) throw shapeError("supervisor.getAllConfigInfo", "an array");
    return value.map((item) => {
      const entry = struct(item, "supervisor.getAllConfigInfo");
      return { ...identityOf(entry), autostart: entry.autostart === true };
    });
  }

  async addProcessGroup(group: string): Promise<boolean> {
    return asBool(await this.call("supervisor.addProcessGroup", [group]), "addProcessGroup");
  }

  async removeProcessGroup(group: string): Promise<boolean> {
    return asBool(await this.call("supervisor.removeProcessGroup", [group]), "removeProcessGroup");
  }

  /**
   * Runs several calls in one round trip. supervisord runs them in order and waits for each
   * deferred one before the next, so pass `wait=false` where parallelism matters.
   */
  async multicall(
    calls: readonly MulticallEntry[],
    options: { timeoutMs?: number } = {},
  ): Promise<MulticallResult[]> {
    if (calls.length === 0) return [];
    const value = await this.call("system.multicall", [
      calls.map((c) => ({ methodName: c.methodName, params: c.params })),
    ], options);
    if (!Array.isArray(value) || value.length !== calls.length) {
      throw shapeError("system.multicall", `an array of ${calls.length} results`);
    }
    // supervisord appends each result as is (not wrapped in a one-item array as the multicall
    // spec says), and a fault as a {faultCode, faultString} struct.
    return value.map((item, index): MulticallResult => {
      const method = calls[index]?.methodName ?? "system.multicall";
      if (isStruct(item) && typeof item.faultCode === "number") {
        const code = item.faultCode;
        const text = typeof item.faultString === "string" ? item.faultString : "";
        return { ok: false, fault: new SupervisorFault(code, faultName(code), text, method) };
      }
      return { ok: true, value: item };
    });
  }
}

function isStruct(value: XmlRpcValue | undefined): value is XmlRpcStruct {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date) && !(value instanceof Uint8Array) && !(value instanceof XmlRpcDouble);
}

function shapeError(method: string, expected: string): XmlRpcSyntaxError {
  return new XmlRpcSyntaxError(`Cannot use the answer to "${method}": expected ${expected}`);
}

function struct(value: XmlRpcValue, method: string): XmlRpcStruct {
  if (!isStruct(value)) throw shapeError(method, "a struct");
  return value;
}

function int(value: XmlRpcStruct, key: string): number {
  const field = value[key];
  if (typeof field !== "number") throw shapeError(key, `an int in field "${key}"`);
  return field;
}

function str(value: XmlRpcStruct, key: string): string {
  const field = value[key];
  if (typeof field !== "string") throw shapeError(key, `a string in field "${key}"`);
  return field;
}

function optionalStr(value: XmlRpcStruct, key: string): string {
  const field = value[key];
  return typeof field === "string" ? field : "";
}

function asBool(value: XmlRpcValue, method: string): boolean {
  if (typeof value !== "boolean") throw shapeError(method, "a boolean");
  return value;
}

function stringList(value: XmlRpcValue | undefined, method: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw shapeError(method, "a list of names");
  }
  return value as string[];
}

/** `getAllProcessInfo`'s answer (also as a multicall result) as typed process infos. */
export function processInfoList(value: XmlRpcValue): ProcessInfo[] {
  if (!Array.isArray(value)) throw shapeError("supervisor.getAllProcessInfo", "an array");
  return value.map((item) => toProcessInfo(struct(item, "supervisor.getAllProcessInfo")));
}

/** A program's name, group and namespec from a process or config info struct. */
function identityOf(value: XmlRpcStruct): { name: string; group: string; namespec: string } {
  const name = str(value, "name");
  const group = str(value, "group");
  return { name, group, namespec: namespecOf(group, name) };
}

function toProcessInfo(value: XmlRpcStruct): ProcessInfo {
  return {
    ...identityOf(value),
    state: processStateName(int(value, "state")),
    pid: int(value, "pid"),
    start: int(value, "start"),
    stop: int(value, "stop"),
    now: int(value, "now"),
    spawnerr: optionalStr(value, "spawnerr"),
    exitstatus: typeof value.exitstatus === "number" ? value.exitstatus : 0,
    description: optionalStr(value, "description"),
  };
}

function toStatuses(value: XmlRpcValue): ProcessStatus[] {
  if (!Array.isArray(value)) throw shapeError("process group call", "an array");
  return value.map((item) => {
    const entry = struct(item, "process group call");
    const code = int(entry, "status");
    return {
      namespec: namespecOf(str(entry, "group"), str(entry, "name")),
      status: faultName(code),
      description: optionalStr(entry, "description"),
    };
  });
}

/** Where and how to reach supervisord: supervisorctl's settings. */
export interface ConnectionSettings {
  serverUrl: string;
  username?: string | null | undefined;
  password?: string | null | undefined;
  timeoutMs?: number | undefined;
}

/** A client for `settings`; throws UsageError for a URL supervisorctl would not accept either. */
export function createClient(settings: ConnectionSettings): SupervisorClient {
  const endpoint = parseServerUrl(settings.serverUrl);
  return new SupervisorClient(
    new HttpTransport(endpoint, {
      username: settings.username ?? undefined,
      password: settings.password ?? undefined,
      ...(settings.timeoutMs === undefined ? {} : { timeoutMs: settings.timeoutMs }),
    }),
  );
}
