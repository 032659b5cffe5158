/**
 * The one loop: holds the machine's state, runs its commands (timers, hooks, restarts) and feeds
 * their results back as events. Owns every timer and the stop signal; never exits on its own.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { type Clock, soon, systemClock, type TimerHandle } from "./clock.ts";
import type { Config } from "./config.ts";
import { type HookSetting, readinessFor, runPostHook, runPreHook } from "./cycle_hooks.ts";
import {
  type Cycle,
  initialState,
  type MachineCommand,
  type MachineContext,
  type MachineEvent,
  type MachineState,
  type Step,
  transition,
  type VersionRef,
} from "./machine.ts";
import type { RestartReport } from "./restart_report.ts";
import { rollOut } from "./rollout.ts";
import { versionFileWarnings } from "./safety.ts";
import type { SelfIdentity, TargetSelection } from "./restart_plan.ts";
import type { FleetCoordinator } from "./fleet/coordinator.ts";
import type { SupervisorClient } from "./supervisor/client.ts";
import type { VersionWatcher, WatchEvent } from "./watch/watcher.ts";
import { errorText, isRetryable, needsPerson } from "./_retryable.ts";
import { type AlarmSetting, alarmUnwatched, checkAtStart } from "./_run_alarms.ts";
import { logSummary } from "./_run_summary.ts";
import { appearedAtSince, catchUp, type ContentStamp, contentStamp } from "./_run_catch_up.ts";
import { FleetCalls } from "./_run_fleet.ts";

const log = getLogger(["releasemon", "run"]);

export interface RunDependencies {
  client: SupervisorClient;
  watcher: VersionWatcher;
  self: SelfIdentity;
  /** Set with --fleet: cycles wait for a fleet slot (not in a dry run) and report their outcome. */
  fleet?: FleetCoordinator | null;
  clock?: Clock;
  random?: () => number;
}

/** Runs releasemon until `signal` aborts; resolves once everything in flight has settled. */
export async function run(config: Config, deps: RunDependencies, signal: AbortSignal) {
  if (!config.enabled) {
    log.info("releasemon is disabled (-e/--disable); idle until stopped");
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    return;
  }
  const loop = new Loop(config, deps, signal);
  await loop.start();
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await loop.stop();
}

export function selectionOf(config: Config): TargetSelection {
  return {
    programs: config.programs,
    groups: config.groups,
    any: config.any,
    runningOnly: config.runningOnly,
    revive: config.revive,
  };
}

export function describeTargets(config: Config): string {
  if (config.any) return "every program except releasemon";
  const parts = [...config.programs, ...config.groups.map((g) => `group ${g}`)];
  return parts.join(", ");
}

class Loop {
  #state: MachineState = initialState(null);
  #timer: TimerHandle | null = null;
  #inFlight = new Set<Promise<void>>();
  #stopping = false;
  /** Started with no baseline and no version read since: the next one goes to catch-up. */
  #baselinePending = false;
  /** The unreadable or empty version file found at start, if any. */
  #startStamp: ContentStamp | null = null;
  readonly #clock: Clock;
  readonly #context: MachineContext;
  /** Set with --fleet. */
  readonly #fleet: FleetCalls | null;

  constructor(
    readonly config: Config,
    readonly deps: RunDependencies,
    readonly signal: AbortSignal,
  ) {
    this.#clock = deps.clock ?? systemClock;
    this.#context = {
      fixedDelayMs: config.fixedDelayMs,
      randomDelayMs: config.randomDelayMs,
      // A dry run announces the hooks (rollout.ts) but never runs them.
      hasPreHook: config.preRestart !== null && !config.dryRun,
      hasPostHook: config.postRestart !== null && !config.dryRun,
      // A dry-run host never holds a slot nor counts as a canary: it restarts nothing.
      fleet: (deps.fleet ?? null) !== null && !config.dryRun,
      random: deps.random ?? Math.random,
    };
    this.#fleet = deps.fleet ? new FleetCalls(deps.fleet, signal) : null;
  }

  async start(): Promise<void> {
    const { config } = this;
    for (const warning of await versionFileWarnings(config.versionFile)) log.warning(warning);
    await checkAtStart(
      this.deps.client,
      selectionOf(config),
      this.#alarmSetting(),
      (work) => this.#background(work),
    );
    const baseline = await this.deps.watcher.start((event) => this.#onWatchEvent(event));
    this.#state = initialState(baseline);
    if (config.pollMs === null) {
      this.#background(alarmUnwatched(config.versionFile, this.deps.watcher, this.#alarmSetting()));
    }
    // No baseline (missing, unreadable, empty): the first version read is judged by catch-up.
    this.#baselinePending = baseline === null && config.catchUp;
    if (this.#baselinePending) this.#startStamp = await contentStamp(config.versionFile);
    // When the baseline appeared, read before "Watching" is logged: a deploy that lands after
    // that line is a new version, never mistaken for the time the baseline appeared.
    if (config.catchUp && baseline) await this.#catchUp(baseline);
    log.info("Watching {file} (version {version}); restarting {targets} on a new version", {
      file: config.versionFile,
      version: baseline?.label ?? null,
      targets: describeTargets(config),
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#timer?.cancel();
    this.#timer = null;
    await this.deps.watcher.close();
    // A restart in flight finishes starting what it stopped (it sees the aborted signal).
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    log.info("releasemon stopped");
  }

  /** Restarts, through the machine, the targets started before `version` appeared. */
  async #catchUp(version: VersionRef): Promise<void> {
    const appearedAt = await appearedAtSince(this.config.versionFile, this.#startStamp);
    this.#background(catchUp(version, appearedAt, {
      selection: selectionOf(this.config),
      client: this.deps.client,
      self: this.deps.self,
      clock: this.#clock,
      signal: this.signal,
      current: () => !this.#stopping && this.#state.latest?.hash === version.hash,
      dispatch: (event) => this.#dispatch(event),
    }));
  }

  #alarmSetting(): AlarmSetting {
    return { clock: this.#clock, signal: this.signal, stopping: () => this.#stopping };
  }

  /** Work that feeds no event back but must finish (or be aborted) before stop() returns. */
  #background(work: Promise<void>): void {
    const done = work
      .catch((error) => {
        if (!this.signal.aborted) {
          log.error("Unexpected error: {error}", { error: errorText(error) });
        }
      })
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  #onWatchEvent(event: WatchEvent): void {
    if (event.type === "VersionSeen") {
      log.debug("Version seen: {version}", { version: event.version.label });
      const type = this.#baselinePending ? "BaselineFound" : "VersionSeen";
      this.#baselinePending = false;
      this.#dispatch({ type, version: event.version });
    }
  }

  #dispatch(event: MachineEvent): void {
    if (this.#stopping) return;
    const before = this.#state.phase;
    const { state, commands } = transition(this.#state, event, this.#context);
    this.#state = state;
    if (state.phase !== before) {
      log.debug("{from} → {to} on {event}", { from: before, to: state.phase, event: event.type });
    }
    for (const command of commands) this.#execute(command);
  }

  #execute(command: MachineCommand): void {
    switch (command.type) {
      case "Log":
        log[command.level](command.message, command.properties ?? {});
        return;
      case "StartTimer": {
        this.#timer?.cancel();
        const { timerId } = command;
        const fire = () => {
          this.#timer = null;
          this.#dispatch({ type: "TimerFired", timerId });
        };
        if (command.delayMs === 0) {
          // No delay configured: go on at once (after this transition's other commands), not
          // through a timer round trip.
          this.#timer = soon(fire);
          return;
        }
        this.#timer = this.#clock.setTimer(fire, command.delayMs);
        return;
      }
      case "AcquireFleetSlot":
        return this.#track(
          this.#fleet!.acquire(command.waitId, command.version),
          (reason) => ({ type: "FleetWaitEnded", waitId: command.waitId, reason }),
        );
      case "CancelFleetWait":
        this.#fleet?.cancel(command.waitId);
        return;
      case "ReleaseFleetSlot":
        if (this.#fleet) this.#background(this.#fleet.release(command.version));
        return;
      case "CatchUp":
        this.#background(this.#catchUp(command.version));
        return;
      case "CheckSupervisor":
        return this.#track(this.#checkSupervisor(), failed("restarting"));
      case "RunPreHook":
        return this.#track(runPreHook(this.#hookSetting(), command.cycle), failed("pre-restart"));
      case "Restart":
        return this.#track(this.#restart(command.cycle), failed("restarting"));
      case "RunPostHook":
        return this.#track(runPostHook(this.#hookSetting(), command), failed("post-restart"));
      case "CycleDone": {
        const reported = this.#fleet?.cycleDone(command);
        if (reported) this.#background(reported);
        collectGarbageSoon();
        return;
      }
    }
  }

  #hookSetting(): HookSetting {
    return {
      config: this.config,
      client: this.deps.client,
      self: this.deps.self,
      selection: selectionOf(this.config),
      signal: this.signal,
    };
  }

  /** Runs a step; an exception it throws becomes the event `onError` makes of it. */
  #track(work: Promise<MachineEvent>, onError: (reason: string) => MachineEvent): void {
    const done = work
      .catch((error): MachineEvent => {
        // A bug, not an expected failure: log it and keep the loop alive.
        log.error("Unexpected error: {error}", { error: errorText(error) });
        return onError(errorText(error));
      })
      .then((event) => this.#dispatch(event))
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
  }

  async #checkSupervisor(): Promise<MachineEvent> {
    try {
      await this.deps.client.getState();
      return { type: "SupervisorChecked", ok: true };
    } catch (error) {
      return { type: "SupervisorChecked", ok: false, reason: errorText(error) };
    }
  }

  async #restart(cycle: Cycle): Promise<MachineEvent> {
    const started = performance.now();
    let report: RestartReport;
    try {
      report = await rollOut(this.deps.client, {
        selection: selectionOf(this.config),
        self: this.deps.self,
        batchSize: this.config.batchSize,
        startTimeoutMs: this.config.startTimeoutMs,
        dryRun: this.config.dryRun,
        updateConfig: this.config.updateConfig,
        only: cycle.only,
        versionLabel: cycle.version.label,
        signal: this.signal,
        // The loop's own clock when one was injected (tests); else the executor's monotonic one.
        clock: this.deps.clock,
        readiness: readinessFor(this.config, cycle),
      });
    } catch (error) {
      if (isRetryable(error)) {
        const reason = errorText(error);
        return { type: "RestartUnavailable", reason, needsPerson: needsPerson(error) };
      }
      throw error;
    }
    if (this.config.dryRun) return { type: "RestartDone", report };
    logSummary(cycle.version, report, Math.round(performance.now() - started));
    return { type: "RestartDone", report };
  }
}

/** A step's exception ends the cycle in the step's phase (lib/machine.ts). */
function failed(step: Step): (reason: string) => MachineEvent {
  return (reason) => ({ type: "StepFailed", step, reason });
}

/**
 * After a cycle, a full garbage collection (when V8 exposes `gc`, which the binary's
 * `--expose-gc` flag does): otherwise the cycle's garbage stays in V8's old generation until its
 * allocation limit, and RSS grows with every restart (issue 16; docs/performance.md). Off the
 * restart's path: a macrotask later, a few ms for this small heap.
 */
function collectGarbageSoon(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) setTimeout(gc, 0);
}
