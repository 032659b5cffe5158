/**
 * supervisord's process states, supervisor states and XML-RPC fault codes, with supervisord's own
 * names (supervisor 4.2.5, `supervisor/states.py` and `supervisor/xmlrpc.py` `Faults`).
 *
 * A leaf: imports nothing. No bare state or fault numbers anywhere else in releasemon.
 *
 * @module
 */

/** Process states, as `statename`/`state` in `getProcessInfo`. */
export const ProcessState = {
  STOPPED: 0,
  STARTING: 10,
  RUNNING: 20,
  BACKOFF: 30,
  STOPPING: 40,
  EXITED: 100,
  FATAL: 200,
  UNKNOWN: 1000,
} as const;
export type ProcessStateName = keyof typeof ProcessState;

/** States in which supervisord considers a process "running" (it will not start it again). */
export const RUNNING_STATES: readonly ProcessStateName[] = ["RUNNING", "BACKOFF", "STARTING"];
/** States from which `startProcess` may start a process. */
export const STOPPED_STATES: readonly ProcessStateName[] = [
  "STOPPED",
  "EXITED",
  "FATAL",
  "UNKNOWN",
];

/** supervisord's own state, as returned by `getState`. */
export const SupervisorState = {
  FATAL: 2,
  RUNNING: 1,
  RESTARTING: 0,
  SHUTDOWN: -1,
} as const;
export type SupervisorStateName = keyof typeof SupervisorState;

/** XML-RPC fault codes supervisord raises. */
export const Fault = {
  UNKNOWN_METHOD: 1,
  INCORRECT_PARAMETERS: 2,
  BAD_ARGUMENTS: 3,
  SIGNATURE_UNSUPPORTED: 4,
  SHUTDOWN_STATE: 6,
  BAD_NAME: 10,
  BAD_SIGNAL: 11,
  NO_FILE: 20,
  NOT_EXECUTABLE: 21,
  FAILED: 30,
  ABNORMAL_TERMINATION: 40,
  SPAWN_ERROR: 50,
  ALREADY_STARTED: 60,
  NOT_RUNNING: 70,
  SUCCESS: 80,
  ALREADY_ADDED: 90,
  STILL_RUNNING: 91,
  CANT_REREAD: 92,
} as const;

function invert<K extends string>(table: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(table).map(([name, code]) => [code as number, name as K]));
}
const PROCESS_STATE_BY_CODE = invert(ProcessState);
const SUPERVISOR_STATE_BY_CODE = invert(SupervisorState);
const FAULT_BY_CODE = invert(Fault);

/** The name of a process state code; unknown codes map to "UNKNOWN" like supervisorctl does. */
export function processStateName(code: number): ProcessStateName {
  return PROCESS_STATE_BY_CODE.get(code) ?? "UNKNOWN";
}

/** The name of a supervisor state code, or undefined when supervisord sent something new. */
export function supervisorStateName(code: number): SupervisorStateName | undefined {
  return SUPERVISOR_STATE_BY_CODE.get(code);
}

/** The name of a fault code, or `UNKNOWN_FAULT_<code>`. */
export function faultName(code: number): string {
  return FAULT_BY_CODE.get(code) ?? `UNKNOWN_FAULT_${code}`;
}

/** True for the states supervisord counts as running (it refuses to start these again). */
export function isRunningState(state: ProcessStateName): boolean {
  return RUNNING_STATES.includes(state);
}
