/**
 * What a restart did and how a cycle ended: the vocabulary the executor (`rollout.ts`,
 * `restart.ts`, `config_update.ts`) reports in, and the state machine, the hooks and the fleet
 * read. Types only; it imports nothing, so dependencies point one way: toward it.
 *
 * @module
 */

/** One program that failed to restart, with supervisord's reason. */
export interface ProgramFailure {
  namespec: string;
  reason: string;
}

/** What a restart did, one entry per program. */
export interface RestartReport {
  restarted: string[];
  failed: ProgramFailure[];
  /** Targets left alone, with why (STOPPED by the operator, not RUNNING with --running-only...). */
  skipped: { namespec: string; reason: string }[];
  /** Requested names or groups that matched nothing. */
  unknown: string[];
  /** True when a rolling restart halted on a failure (remaining programs untouched). */
  halted?: boolean;
  /**
   * Programs RUNNING again but not ready in time (`--ready-check`/`--ready-url`): also in
   * `failed`, with the reason; left running.
   */
  notReady?: string[];
  /** Targets a halted rollout did not touch: they still run the previous release. */
  untouched?: string[];
  /** Why nothing could be done for this version (e.g. supervisord's CANT_REREAD message). */
  error?: string;
  /** The fleet halted this version before this host restarted anything (the reason). */
  fleetHalted?: string;
  /** What `--update-config` did: programs re-created, added and removed. */
  config?: { recreated: string[]; added: string[]; removed: string[] };
}

/**
 * How a cycle ended: every program restarted ("success"), some ("partial"), none or a halted
 * rollout ("failed"), the pre-restart command failed ("aborted"), or the fleet halted the version
 * before this host restarted anything ("halted"). The post-restart command is told it
 * (`RELEASEMON_OUTCOME`), and so is the fleet (which records "halted" as "skipped").
 */
export type Outcome = "success" | "partial" | "failed" | "aborted" | "halted";
