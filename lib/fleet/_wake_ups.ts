/**
 * How a waiting {@linkcode RedisFleet} host learns that it may ask again: a poll timer, cut short
 * by the group's pub/sub `wake` channel. The subscription is best effort (a lost one is restored
 * at most once per {@link RESUBSCRIBE_MS}); polling alone still works, only slower.
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import type { Clock } from "../clock.ts";
import type { RedisConnection } from "./_redis_connection.ts";

const log = getLogger(["releasemon", "fleet"]);

/** Least time between two attempts to restore a lost pub/sub subscription. */
const RESUBSCRIBE_MS = 1_000;

/** Wake-ups of one host: a counter of messages seen, and the hosts' waits on it. */
export class WakeUps {
  readonly #sub: RedisConnection;
  readonly #channel: string;
  readonly #clock: Clock;
  readonly #pollMs: number;
  #count = 0;
  readonly #wakers = new Set<() => void>();
  #subscribing: Promise<void> | null = null;
  #lastSubscribeAt = -Infinity;
  #closed = false;

  constructor(sub: RedisConnection, channel: string, clock: Clock, pollMs: number) {
    this.#sub = sub;
    this.#channel = channel;
    this.#clock = clock;
    this.#pollMs = pollMs;
  }

  /** How many wake-ups arrived so far; pass it to {@linkcode wait}. */
  get count(): number {
    return this.#count;
  }

  /** Keeps the pub/sub subscription alive; `track` gets the attempt, if one starts. */
  ensureSubscribed(track: (task: Promise<unknown>) => void): void {
    if (this.#closed || this.#sub.ready || this.#subscribing !== null) return;
    if (this.#clock.now() - this.#lastSubscribeAt < RESUBSCRIBE_MS) return;
    this.#lastSubscribeAt = this.#clock.now();
    this.#subscribing = this.#sub.subscribe(this.#channel, () => this.#wake()).catch((error) => {
      log.debug("Cannot subscribe to fleet wake-ups: {error}", { error: String(error) });
    }).finally(() => this.#subscribing = null);
    track(this.#subscribing);
  }

  /** Resolves after `pollMs` or at the first wake-up since `seen`; rejects on abort. */
  wait(seen: number, signal: AbortSignal): Promise<void> {
    if (this.#count !== seen || this.#closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        timer.cancel();
        this.#wakers.delete(done);
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        timer.cancel();
        this.#wakers.delete(done);
        reject(signal.reason);
      };
      const timer = this.#clock.setTimer(done, this.#pollMs);
      this.#wakers.add(done);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Ends every wait at once and subscribes no more. */
  close(): void {
    this.#closed = true;
    for (const wake of this.#wakers) wake();
  }

  #wake(): void {
    this.#count++;
    for (const wake of this.#wakers) wake();
  }
}
