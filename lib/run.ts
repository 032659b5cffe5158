/**
 * The one loop: holds the machine's state, runs its commands (timers, hooks, restarts) and feeds
 * their results back as events. Owns every timer and the stop signal; never exits on its own.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import type { Config } from "./config.ts";
import {
  SupervisorAuthError,
  SupervisorFault,
  SupervisorUnavailableError,
  UsageError,
} from "./errors.ts";
import { type HookSetting, runPostHook, runPreHook } from "./cycle_hooks.ts";
import {
  type Cycle,
  initialState,
  type MachineCommand,
  type MachineContext,
  type MachineEvent,
  type MachineState,
  type Step,
  transition,
} from "./machine.ts";
import { quoteVersion } from "./log.ts";
import type { RestartReport } from "./restart_report.ts";
import { rollOut } from "./rollout.ts";
import { versionFileWarnings } from "./safety.ts";
import { type SelfIdentity, type TargetSelection, unknownNames } from "./restart_plan.ts";
import type { FleetCoordinator } from "./fleet/coordinator.ts";
import type { SupervisorClient } from "./supervisor/client.ts";
import type { VersionWatcher, WatchEvent } from "./watch/watcher.ts";
import { errorText, isRetryable } from "./_retryable.ts";
import { catchUp } from "./_run_catch_up.ts";
import { versionAppearedAt } from "./catch_up.ts";
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
    await this.#checkTargets();
    const baseline = await this.deps.watcher.start((event) => this.#onWatchEvent(event));
    this.#state = initialState(baseline);
    if (config.catchUp && baseline) {
      // When the baseline appeared, read before "Watching" is logged: a deploy that lands after
      // that line is a new version, never mistaken for the time the baseline appeared.
      const appearedAt = await versionAppearedAt(config.versionFile).catch(() => null);
      this.#background(catchUp(baseline, appearedAt, {
        selection: selectionOf(config),
        client: this.deps.client,
        self: this.deps.self,
        clock: this.#clock,
        signal: this.signal,
        current: () => !this.#stopping && this.#state.latest?.hash === baseline.hash,
        dispatch: (event) => this.#dispatch(event),
      }));
    }
    log.info("Watching {file} (version {version}); restarting {targets} on a new version", {
      file: config.versionFile,
      version: baseline ? quoteVersion(baseline.label) : "none yet",
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

  /** Start-up check: say early when a PROG or group does not exist. Never fatal when down. */
  async #checkTargets(): Promise<void> {
    try {
      const infos = await this.deps.client.getAllProcessInfo();
      for (const name of unknownNames(infos, selectionOf(this.config))) {
        log.warning("No program matches {name} in supervisord at {url}; check the name", {
          name,
          url: this.deps.client.url,
        });
      }
    } catch (error) {
      // Retrying cannot fix these: say so at start-up and exit (main.ts maps them to 1 or 2).
      if (error instanceof SupervisorAuthError || error instanceof UsageError) throw error;
      if (error instanceof SupervisorFault && error.faultName === "UNKNOWN_METHOD") {
        throw new Error(
          `supervisord at "${this.deps.client.url}" has no "supervisor" XML-RPC interface: add ` +
            "[rpcinterface:supervisor] with supervisor.rpcinterface_factory = " +
            "supervisor.rpcinterface:make_main_rpcinterface to its configuration",
        );
      }
      if (error instanceof SupervisorUnavailableError && error.reason === "permission-denied") {
        log.error("Cannot use supervisord: {error}", { error: errorText(error) });
        return;
      }
      log.warning(
        "Cannot reach supervisord at start-up: {error}; will retry when a version arrives",
        {
          error: errorText(error),
        },
      );
    }
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
      log.debug("Version seen: {version}", { version: quoteVersion(event.version.label) });
      this.#dispatch({ type: "VersionSeen", version: event.version });
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
          queueMicrotask(fire);
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
        versionLabel: quoteVersion(cycle.version.label),
        signal: this.signal,
        // The loop's own clock when one was injected (tests); else the executor's monotonic one.
        clock: this.deps.clock,
      });
    } catch (error) {
      if (isRetryable(error)) return { type: "RestartUnavailable", reason: errorText(error) };
      throw error;
    }
    if (this.config.dryRun) return { type: "RestartDone", report };
    const level = report.failed.length > 0 ? "error" : "info";
    log[level](
      "Version {version} applied: {restarted} restarted, {failed} failed, {skipped} skipped in {ms} ms",
      {
        version: quoteVersion(cycle.version.label),
        restarted: report.restarted.length,
        failed: report.failed.length,
        skipped: report.skipped.length,
        ms: Math.round(performance.now() - started),
      },
    );
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
