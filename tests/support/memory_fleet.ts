/**
 * {@linkcode Fleet} in process: several `MemoryFleet`s sharing one {@linkcode MemoryFleetState} are
 * several hosts of a fleet. Same rules as the Redis engine (`lib/fleet/scripts.ts`, step by step), on an
 * injected {@linkcode Clock}, for fast tests of the semantics and of the program.
 *
 * ```ts
 * using clock = new FakeClock();
 * const state = new MemoryFleetState();
 * const a = new MemoryFleet(state, { group: "web", hostId: "a", maxParallel: 1, canary: 0, clock });
 * const b = new MemoryFleet(state, { group: "web", hostId: "b", maxParallel: 1, canary: 0, clock });
 * ```
 *
 * Waiters are woken at once by every change (a freed slot, a finished canary, a halt) and also
 * poll every `pollMs` on the clock, which is when expired leases and heartbeats are noticed.
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "../../lib/clock.ts";
import {
  type Fleet,
  type FleetOptions,
  FleetUnavailableError,
  type FleetVersion,
  type HostOutcome,
  type RolloutStatus,
  type SlotDecision,
} from "../../lib/fleet/fleet.ts";
import { MemoryEngine, type MemoryGroup, newGroup } from "./memory_fleet_engine.ts";
import {
  type CheckedOptions,
  checkOptions,
  checkVersion,
  identityConflict,
  logLostSlot,
  lostSlotDetail,
} from "../../lib/fleet/_validate.ts";

const _GROUPS: unique symbol = Symbol("groups");

/** The shared "server": pass one instance to every host's MemoryFleet. */
export class MemoryFleetState {
  /** Groups by name; reached through {@linkcode _group} so the data stays private. */
  readonly [_GROUPS] = new Map<string, MemoryGroup>();
}

function _group(state: MemoryFleetState, name: string): MemoryGroup {
  let group = state[_GROUPS].get(name);
  if (group === undefined) {
    group = newGroup();
    state[_GROUPS].set(name, group);
  }
  return group;
}

export interface MemoryFleetOptions extends FleetOptions {
  /** @default systemClock */
  clock?: Clock;
  /** How often a waiting host looks again (it is also woken by every change). @default 100 */
  pollMs?: number;
  /** Heartbeat TTL of a waiting host. @default max(leaseMs / 3, 5 * pollMs) */
  waiterTtlMs?: number;
}

/** One host's view of an in-memory fleet; see the module doc. */
export class MemoryFleet implements Fleet, AsyncDisposable {
  readonly #o: CheckedOptions;
  readonly #clock: Clock;
  readonly #group: MemoryGroup;
  #held: { version: FleetVersion; canary: boolean } | null = null;
  readonly #canaryOf = new Map<string, boolean>();
  /** Versions whose slot this host lost (its lease expired) before it finished. */
  readonly #lost = new Set<string>();
  #renewTimer: TimerHandle | null = null;
  /** Heartbeat of a host standing by after `release`, until it asks again or leaves. */
  #standByTimer: TimerHandle | null = null;
  /** This instance's claim on its host id (see `RedisFleet.join`). */
  readonly #token = crypto.randomUUID();
  #claimTimer: TimerHandle | null = null;
  #claimed = false;
  readonly #wakers = new Set<() => void>();
  #closed = false;

  constructor(state: MemoryFleetState, options: MemoryFleetOptions) {
    this.#o = checkOptions(options);
    this.#clock = options.clock ?? systemClock;
    this.#group = _group(state, this.#o.group);
  }

  /**
   * Claims this host id for this instance until close; rejects with FleetIdentityError while
   * another live instance holds it (a closed one frees it, an abandoned one after a lease).
   */
  async join(): Promise<void> {
    this.#checkOpen();
    await Promise.resolve();
    this.#claim();
  }

  async acquire(version: FleetVersion, signal: AbortSignal): Promise<SlotDecision> {
    checkVersion(version);
    signal.throwIfAborted();
    this.#checkOpen();
    await Promise.resolve();
    this.#claim();
    this.#stopStandingBy();
    for (;;) {
      const decision = this.#engine().acquire(this.#o, version);
      if (decision.kind === "go") {
        this.#held = { version, canary: decision.canary };
        this.#canaryOf.clear();
        this.#canaryOf.set(version.hash, decision.canary);
        this.#scheduleRenewal();
        return decision;
      }
      if (decision.kind === "halted") return decision;
      try {
        await this.#waitForWake(signal);
      } catch (error) {
        this.#engine().quit(this.#o.hostId, "gave up waiting");
        throw error;
      }
      this.#checkOpen();
    }
  }

  async finish(version: FleetVersion, outcome: HostOutcome): Promise<void> {
    checkVersion(version);
    this.#checkOpen();
    await Promise.resolve();
    if (this.#held?.version.hash === version.hash) this.#unhold();
    this.#stopStandingBy();
    const lost = this.#lost.delete(version.hash);
    this.#engine().finish(
      this.#o.hostId,
      version,
      lost ? { ...outcome, detail: lostSlotDetail(outcome.detail) } : outcome,
      this.#canaryOf.get(version.hash) ?? false,
    );
  }

  async release(version: FleetVersion): Promise<void> {
    checkVersion(version);
    this.#checkOpen();
    await Promise.resolve();
    if (this.#held?.version.hash === version.hash) this.#unhold();
    this.#stopStandingBy();
    this.#standBy(version);
  }

  async status(versionHash?: string): Promise<RolloutStatus> {
    this.#checkOpen();
    await Promise.resolve();
    return this.#engine().status(this.#o.group, versionHash);
  }

  async resume(versionHash?: string): Promise<boolean> {
    this.#checkOpen();
    await Promise.resolve();
    return this.#engine().resume(versionHash);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.resolve();
    this.#unhold();
    this.#engine().quit(this.#o.hostId, "shut down");
    if (this.#claimed) this.#engine().unclaim(this.#o.hostId, this.#token);
    this.#shutDown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops renewing and heartbeating without releasing anything, as if the process died. */
  abandon(): void {
    this.#unhold();
    this.#shutDown();
  }

  #shutDown(): void {
    this.#claimTimer?.cancel();
    this.#claimTimer = null;
    this.#stopStandingBy();
    this.#closed = true;
    for (const wake of this.#wakers) wake();
  }

  #engine(): MemoryEngine {
    return new MemoryEngine(this.#group, this.#clock.now());
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new FleetUnavailableError("Cannot use the in-memory fleet: it was closed");
    }
  }

  #unhold(): void {
    this.#renewTimer?.cancel();
    this.#renewTimer = null;
    this.#held = null;
  }

  /** Claims or refreshes the host id (every third of a lease from now on); throws on a conflict. */
  #claim(): void {
    const claim = this.#engine().claim(this.#o, this.#token);
    if (claim.kind === "taken") throw identityConflict(this.#o, claim.instance, claim.pttlMs);
    this.#claimed = true;
    this.#claimTimer ??= this.#clock.setTimer(() => {
      this.#claimTimer = null;
      if (this.#closed) return;
      try {
        this.#claim();
      } catch {
        // Taken while this instance's claim had lapsed: the next acquire rejects.
      }
    }, this.#o.leaseMs / 3);
  }

  /** Gives the slot back and heartbeats every third of the waiter TTL while registered. */
  #standBy(version: FleetVersion): void {
    if (this.#closed || !this.#engine().standBy(this.#o, version)) return;
    this.#standByTimer = this.#clock.setTimer(() => {
      this.#standByTimer = null;
      this.#standBy(version);
    }, this.#o.waiterTtlMs / 3);
  }

  #stopStandingBy(): void {
    this.#standByTimer?.cancel();
    this.#standByTimer = null;
  }

  #scheduleRenewal(): void {
    this.#renewTimer?.cancel();
    this.#renewTimer = this.#clock.setTimer(() => {
      const held = this.#held;
      if (held === null || this.#closed) return;
      const result = this.#engine().renew(this.#o, held.version);
      if (result === "renewed") {
        this.#scheduleRenewal();
        return;
      }
      this.#unhold();
      if (result === "lost") {
        this.#lost.add(held.version.hash);
        logLostSlot(held.version);
      }
    }, this.#o.leaseMs / 3);
  }

  #waitForWake(signal: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        timer.cancel();
        this.#wakers.delete(done);
        this.#group.listeners.delete(done);
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        timer.cancel();
        this.#wakers.delete(done);
        this.#group.listeners.delete(done);
        reject(signal.reason);
      };
      const timer = this.#clock.setTimer(done, this.#o.pollMs);
      this.#wakers.add(done);
      this.#group.listeners.add(done);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}
