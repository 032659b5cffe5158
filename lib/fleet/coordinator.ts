/**
 * The program's side of a fleet rollout: ask the fleet for a slot with the operator's error
 * policy (`--fleet-on-error wait|proceed`), and report the outcome afterwards, retrying through
 * a short engine outage. The engine itself sits behind the {@link Fleet} interface.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import { type Clock, sleep } from "../clock.ts";
import { backoffMs } from "../delay.ts";
import { type Fleet, FleetUnavailableError, type FleetVersion, type HostOutcome } from "./fleet.ts";

const log = getLogger(["releasemon", "fleet"]);

export interface FleetPolicy {
  /** wait: keep the pending version and retry; proceed: restart uncoordinated after timeoutMs. */
  onError: "wait" | "proceed";
  timeoutMs: number;
}

export type GateDecision =
  | { kind: "go"; canary: boolean }
  | { kind: "halted"; reason: string }
  | { kind: "uncoordinated" };

export class FleetCoordinator {
  constructor(
    readonly fleet: Fleet,
    readonly policy: FleetPolicy,
    readonly clock: Clock,
  ) {}

  /** Waits for this host's turn; see {@link FleetPolicy} for an unreachable engine. */
  async gate(version: FleetVersion, signal: AbortSignal): Promise<GateDecision> {
    const started = this.clock.now();
    log.info("Waiting for a fleet slot for version {version}", {
      version: version.label,
    });
    for (let attempt = 0;; attempt++) {
      try {
        const decision = await this.fleet.acquire(version, signal);
        if (decision.kind === "halted") {
          log.error("FLEET ROLLOUT HALTED for version {version}: {reason}; skipping it here", {
            version: version.label,
            reason: decision.reason,
          });
        } else {
          log.info("Fleet slot granted for version {version}{canary}", {
            version: version.label,
            canary: decision.canary ? " (canary)" : "",
          });
        }
        return decision;
      } catch (error) {
        if (signal.aborted) throw error;
        if (!(error instanceof FleetUnavailableError)) throw error;
        const waitedMs = this.clock.now() - started;
        if (this.policy.onError === "proceed" && waitedMs >= this.policy.timeoutMs) {
          log.warning(
            "Fleet unreachable for {waitedMs}: restarting for version {version} WITHOUT coordination (--fleet-on-error proceed): {error}",
            {
              waitedMs,
              version: version.label,
              error: error.message,
            },
          );
          return { kind: "uncoordinated" };
        }
        // Capped at 5 s: a waiting host that goes quiet for longer than its heartbeat (10 s with the
        // default lease) counts as gone, and a gone canary would halt the version.
        const delayMs = backoffMs(attempt, { initialMs: 500, maxMs: 5_000 });
        if (attempt < 3 || attempt % 10 === 0) {
          // A refused password never fixes itself: an error for a person, still retried.
          const level = error.authRefused ? "error" : "warning";
          log[level]("Cannot use the fleet: {error}; version {version} kept, retry in {delayMs}", {
            error: error.message,
            version: version.label,
            delayMs,
          });
        }
        await sleep(this.clock, delayMs, signal);
      }
    }
  }

  /** Records the outcome (halting the version on failure) and frees the slot; retries briefly. */
  async finish(version: FleetVersion, outcome: HostOutcome): Promise<void> {
    const done = await this.#retrying(
      version,
      "report to",
      () => this.fleet.finish(version, outcome),
    );
    if (!done || outcome.ok) return;
    log.error("Version {version} marked failed for the fleet: {detail}", {
      version: version.label,
      detail: outcome.detail,
    });
  }

  /**
   * Gives the slot for `version` back without an outcome, for a host that cannot restart right
   * now (its supervisord is unreachable): the others go meanwhile. Retries briefly, like finish.
   */
  async release(version: FleetVersion): Promise<void> {
    if (!await this.#retrying(version, "release a slot to", () => this.fleet.release(version))) {
      return;
    }
    log.warning(
      "Released the fleet slot for version {version}: this host cannot restart now; it queues again to retry",
      { version: version.label },
    );
  }

  /** Runs `call` through a short engine outage (8 tries); false when it gave up. */
  async #retrying(
    version: FleetVersion,
    action: string,
    call: () => Promise<void>,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        await call();
        return true;
      } catch (error) {
        if (!(error instanceof FleetUnavailableError)) throw error;
        const delayMs = backoffMs(attempt, { initialMs: 500, maxMs: 10_000 });
        log.warning("Cannot {action} the fleet: {error}; retry in {delayMs}", {
          action,
          error: error.message,
          delayMs,
        });
        await sleep(this.clock, delayMs);
      }
    }
    log.error(
      "Gave up trying to {action} the fleet for version {version}; its slot frees itself when the lease expires",
      { action, version: version.label },
    );
    return false;
  }
}
