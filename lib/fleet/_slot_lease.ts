/**
 * The slot a {@linkcode RedisFleet} host holds, renewed every third of a lease in the background
 * until the host lets go. A renewal that finds the lease expired ("lost": the slot may be another
 * host's now) stops renewing and remembers it, so that `finish` can say so.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import type { Held, ScriptCalls } from "./_script_calls.ts";
import { logLostSlot } from "./_validate.ts";

const log = getLogger(["releasemon", "fleet"]);

/** The held slot and its renewal. */
export class SlotLease {
  readonly #calls: ScriptCalls;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #epoch: () => string;
  #held: Held | null = null;
  /** Canary flag of versions this host held, so a retried finish still reports it. */
  readonly #canaryOf = new Map<string, boolean>();
  /** Versions whose slot this host lost (its lease expired) before it finished. */
  readonly #lost = new Set<string>();
  #renewTimer: TimerHandle | null = null;
  #renewing: Promise<void> | null = null;
  #closed = false;

  /** @param epoch the data set the host last saw, sent with each renewal */
  constructor(calls: ScriptCalls, clock: Clock, leaseMs: number, epoch: () => string) {
    this.#calls = calls;
    this.#clock = clock;
    this.#leaseMs = leaseMs;
    this.#epoch = epoch;
  }

  /** The slot held now, if any. */
  get held(): Held | null {
    return this.#held;
  }

  /** Whether this host was a canary of the version it last held. */
  wasCanary(versionHash: string): boolean {
    return this.#canaryOf.get(versionHash) ?? false;
  }

  /** Whether this host lost its slot for the version before it finished. */
  wasLost(versionHash: string): boolean {
    return this.#lost.has(versionHash);
  }

  /** Holds `held` and renews it in the background. */
  hold(held: Held): void {
    this.#held = held;
    this.#canaryOf.clear();
    this.#canaryOf.set(held.version.hash, held.canary);
    this.#scheduleRenewal();
  }

  /** Stops renewing once any renewal in flight has landed. */
  async unhold(): Promise<void> {
    this.#stopRenewing();
    await this.#renewing;
    this.#held = null;
  }

  /** Stops renewing at once (the slot is being given up). */
  drop(): void {
    this.#stopRenewing();
    this.#held = null;
  }

  /** Renews no more, then {@linkcode unhold}. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.unhold();
  }

  #stopRenewing(): void {
    this.#renewTimer?.cancel();
    this.#renewTimer = null;
  }

  #scheduleRenewal(): void {
    this.#stopRenewing();
    this.#renewTimer = this.#clock.setTimer(() => {
      this.#renewTimer = null;
      this.#renewing = this.#renew().finally(() => {
        this.#renewing = null;
        if (this.#held !== null && !this.#closed && this.#renewTimer === null) {
          this.#scheduleRenewal();
        }
      });
    }, this.#leaseMs / 3);
  }

  async #renew(): Promise<void> {
    const held = this.#held;
    if (held === null || this.#closed) return;
    let result: unknown;
    try {
      result = await this.#calls.renew(held, this.#epoch());
    } catch (error) {
      log.warning("Cannot renew the fleet slot for version {version}: {error}", {
        version: held.version.label,
        error: String(error),
      });
      return;
    }
    if (result === "renewed" || result === "recreated" || this.#held !== held) return;
    // Finished or moved on meanwhile ("gone"), or the lease expired ("lost"): stop renewing.
    this.#stopRenewing();
    this.#held = null;
    if (result === "lost") {
      this.#lost.add(held.version.hash);
      logLostSlot(held.version);
    }
  }
}
