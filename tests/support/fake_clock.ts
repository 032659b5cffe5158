/**
 * A fake {@linkcode Clock} for tests: time moves only when the test says so.
 *
 * ```ts
 * using clock = new FakeClock();
 * const watcher = new VersionWatcher(path, { clock });
 * clock.tick(10);          // fires every timer due within 10 ms, in order
 * await clock.tickAsync(200); // same, letting promises settle between timers
 * ```
 *
 * Disposing it (`using`) cancels the timers still pending, so no callback runs after the test,
 * and makes further use throw.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../../lib/clock.ts";

interface FakeTimer {
  id: number;
  dueAt: number;
  callback: () => void;
}

/** A {@linkcode Clock} whose time is advanced with {@linkcode FakeClock.tick}. */
export class FakeClock implements Clock, Disposable {
  #now: number;
  #nextId = 1;
  #timers: FakeTimer[] = [];
  #disposed = false;

  /** @param startMs The initial `now()`, in ms since the epoch. @default {Date.UTC(2026, 0, 1)} */
  constructor(startMs: number = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    this.#checkUsable();
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    this.#checkUsable();
    // Like setTimeout: a negative or non-finite delay means "as soon as possible".
    const dueAt = this.#now + (Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0);
    const timer = { id: this.#nextId++, dueAt, callback };
    this.#timers.push(timer);
    return { cancel: () => this.#remove(timer.id) };
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** When the next timer is due, or null when none is pending. */
  get nextDueAt(): number | null {
    return this.#next()?.dueAt ?? null;
  }

  /**
   * Moves time forward by `ms`, firing each timer due on the way at its own time, earliest first
   * (equal times in scheduling order), including timers that those callbacks schedule.
   */
  tick(ms: number): void {
    const until = this.#target(ms);
    for (let timer = this.#due(until); timer !== undefined; timer = this.#due(until)) {
      this.#fire(timer);
    }
    this.#now = until;
  }

  /** {@linkcode tick}, letting pending promises settle before and after each timer fires. */
  async tickAsync(ms: number): Promise<void> {
    const until = this.#target(ms);
    await this.runMicrotasks();
    for (let timer = this.#due(until); timer !== undefined; timer = this.#due(until)) {
      this.#fire(timer);
      await this.runMicrotasks();
    }
    this.#now = until;
  }

  /** Fires timers until none is pending (at most `limit`, against a timer that re-arms forever). */
  async runAllAsync(limit = 1000): Promise<void> {
    for (let i = 0; i < limit; i++) {
      const next = this.#next();
      if (next === undefined) return;
      await this.tickAsync(next.dueAt - this.#now);
    }
    throw new RangeError(`Cannot run all timers: still pending after ${limit} timers`);
  }

  /**
   * Awaits `promise`, firing the next timer each time nothing else is left to run: code whose only
   * waits are on this clock (and on promises, like a FakeSupervisor's answers) runs as if every
   * sleep were instant, and reads the time it slept. Not for code that waits on real I/O.
   */
  async runUntilSettled<T>(promise: Promise<T>, limit = 100_000): Promise<T> {
    let settled = false;
    promise.then(() => settled = true, () => settled = true);
    for (let turn = 0; turn < limit; turn++) {
      // One macrotask turn, so every queued promise callback runs (a message: no timer clamping).
      await new Promise<void>((resolve) => {
        const { port1, port2 } = new MessageChannel();
        port1.onmessage = () => {
          port1.close();
          resolve();
        };
        port2.postMessage(null);
        port2.close();
      });
      if (settled) return promise;
      const next = this.#next();
      if (next !== undefined) this.#fire(next);
    }
    throw new RangeError(
      `Cannot run until the promise settles: still pending after ${limit} turns`,
    );
  }

  /** Lets queued promise callbacks run (one real macrotask turn, so chains of awaits finish). */
  async runMicrotasks(): Promise<void> {
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }

  [Symbol.dispose](): void {
    this.#timers = [];
    this.#disposed = true;
  }

  #target(ms: number): number {
    this.#checkUsable();
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`Cannot tick by "${ms}" ms: must be a non-negative number`);
    }
    return this.#now + ms;
  }

  #next(): FakeTimer | undefined {
    let next: FakeTimer | undefined;
    for (const timer of this.#timers) {
      if (next === undefined || timer.dueAt < next.dueAt) next = timer;
    }
    return next;
  }

  #due(until: number): FakeTimer | undefined {
    const next = this.#next();
    return next !== undefined && next.dueAt <= until ? next : undefined;
  }

  #fire(timer: FakeTimer): void {
    this.#remove(timer.id);
    this.#now = timer.dueAt;
    timer.callback();
  }

  #remove(id: number): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== id);
  }

  #checkUsable(): void {
    if (this.#disposed) throw new Error("Cannot use the fake clock: it was disposed");
  }
}
