/**
 * A {@linkcode RedisFleet} process's claim on its host id: a random token stored under
 * `id:<host>` for one lease and refreshed every third of one, so that a second live releasemon
 * with the same `--fleet-id` is refused instead of sharing the host's slot.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import { FleetIdentityError } from "./fleet.ts";
import type { ScriptCalls } from "./_script_calls.ts";
import { type CheckedOptions, identityConflict } from "./_validate.ts";

const log = getLogger(["releasemon", "fleet"]);

/** This process's claim on its host id. */
export class HostClaim {
  readonly #calls: ScriptCalls;
  readonly #options: CheckedOptions;
  readonly #clock: Clock;
  readonly #track: (task: Promise<unknown>) => void;
  /** This process's claim: a random token. */
  readonly #token = crypto.randomUUID();
  #claimedAt = -Infinity;
  #timer: TimerHandle | null = null;
  /** Set once another process was found holding our host id; every later acquire rejects. */
  #conflict: FleetIdentityError | null = null;
  #closed = false;

  /** @param track tracks background refreshes until they settle */
  constructor(
    calls: ScriptCalls,
    options: CheckedOptions,
    clock: Clock,
    track: (task: Promise<unknown>) => void,
  ) {
    this.#calls = calls;
    this.#options = options;
    this.#clock = clock;
    this.#track = track;
  }

  /** Another process's claim that this one ran into, until the id is ours again. */
  get conflict(): FleetIdentityError | null {
    return this.#conflict;
  }

  /** Whether this process holds the id (it claimed it and met no conflict since). */
  get held(): boolean {
    return this.#claimedAt > -Infinity && this.#conflict === null;
  }

  /** Whether the claim should be refreshed before relying on it: a third of a lease old. */
  get stale(): boolean {
    return this.#clock.now() - this.#claimedAt >= this.#options.leaseMs / 3;
  }

  /** Claims or refreshes the host id and keeps refreshing it; throws on a conflict. */
  async claim(): Promise<void> {
    this.#keep();
    const reply = await this.#calls.claim(this.#token);
    if (reply[0] === "taken") {
      this.#conflict = identityConflict(this.#options, reply[1] ?? "", Number(reply[2] ?? 0));
      throw this.#conflict;
    }
    this.#conflict = null;
    this.#claimedAt = this.#clock.now();
  }

  /** Frees the id at once, so that a restarted releasemon need not wait for the claim's TTL. */
  async unclaim(): Promise<void> {
    await this.#calls.unclaim(this.#token);
  }

  /** Stops refreshing. */
  stop(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  /**
   * Refreshes the claim every third of a lease (a miss is retried at the next tick). A conflict
   * found here (this process's claim lapsed and another took the id) is logged once; acquire
   * rejects until the id is ours again.
   */
  #keep(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = null;
      const before = this.#conflict;
      this.#track(
        this.claim().catch((error) => {
          if (error instanceof FleetIdentityError) {
            if (before === null) log.error("{error}", { error: error.message });
          } else {
            log.debug("Cannot refresh the host id's claim: {error}", { error: String(error) });
          }
        }),
      );
    }, this.#options.leaseMs / 3);
  }
}
