/**
 * {@linkcode Fleet} on Redis: every host runs one `RedisFleet` against the same server; each
 * operation is one atomic Lua script (`scripts.ts`, which also documents the key layout; called
 * through `_script_calls.ts`), and the lease clock is Redis's own `TIME`.
 *
 * ```ts
 * const fleet = new RedisFleet("redis://redis.internal:6379/0", env.RELEASEMON_FLEET_PASSWORD ?? null, {
 *   group: "web", hostId: "web-3", maxParallel: 2, canary: 1,
 * });
 * await fleet.connect();
 * const decision = await fleet.acquire({ hash, label }, signal);
 * ```
 *
 * - Waiting hosts poll every `pollMs` and are woken at once through pub/sub (`wake` channel) when a
 *   slot frees, a canary finishes, or the version halts or resumes; a lost subscription only costs
 *   latency. Each poll is also the waiter's heartbeat.
 * - A held slot is renewed every `leaseMs / 3` in the background until {@linkcode finish} (which
 *   stops renewing even when it fails, so a host that cannot report never blocks the fleet longer
 *   than one lease).
 * - Never more than `maxParallel` holders: a renewal only extends a lease that still exists. When
 *   the host was cut off longer than its lease, the lease expired and the slot may be another
 *   host's: the renewal fails, the host logs an error that it lost its slot, stops renewing, and
 *   its `finish` detail says so.
 * - Redis unreachable: every call rejects with FleetUnavailableError within the connect or command
 *   deadline; nothing retries here. Redis restarted with its data lost: the next call of each
 *   host re-registers it, a renewal re-creates the holder's lease and record while a slot is free,
 *   and the first host that notices the loss holds all grants for `leaseMs / 2` so that holders
 *   get their leases back before anyone else takes a slot.
 * - Exactly once: `finish` is idempotent. `acquire` for a version this host already finished
 *   registers it again and answers `go` again once a slot is free: the program must not ask
 *   twice for a version it applied (it remembers what it applied locally).
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import {
  type Fleet,
  type FleetOptions,
  FleetUnavailableError,
  type FleetVersion,
  type HostOutcome,
  type RolloutStatus,
  type SlotDecision,
} from "./fleet.ts";
import { parseFleetUrl } from "./fleet_url.ts";
import { RedisConnection, type RedisConnectionOptions } from "./_redis_connection.ts";
import { HostClaim } from "./_host_claim.ts";
import { ScriptCalls } from "./_script_calls.ts";
import { SlotLease } from "./_slot_lease.ts";
import {
  type CheckedOptions,
  checkOptions,
  checkVersion,
  DEFAULT_RETENTION_MS,
} from "./_validate.ts";
import { WakeUps } from "./_wake_ups.ts";

const log = getLogger(["releasemon", "fleet"]);

export interface RedisFleetOptions extends FleetOptions, RedisConnectionOptions {
  /** Timers for polling and renewal. @default systemClock */
  clock?: Clock;
  /** How often a waiting host asks again (pub/sub usually wakes it sooner). @default 100 */
  pollMs?: number;
  /** Heartbeat TTL of a waiting host. @default max(leaseMs / 3, 5 * pollMs) */
  waiterTtlMs?: number;
  /** How long a version's record stays after its last change. @default 7 days */
  retentionMs?: number;
}

/** The Redis engine; see the module doc. */
export class RedisFleet implements Fleet, AsyncDisposable {
  readonly #options: CheckedOptions;
  readonly #clock: Clock;
  readonly #conn: RedisConnection;
  readonly #sub: RedisConnection;
  readonly #calls: ScriptCalls;
  readonly #claim: HostClaim;
  readonly #wakeUps: WakeUps;
  /** The data set this host last saw (`epoch` key), to notice a Redis that lost its data. */
  #epoch = "";
  readonly #lease: SlotLease;
  /** Registered in the queue (or holding) since the last finish/release. */
  #registered = false;
  /** Heartbeat of a host standing by after `release`, until it asks again or leaves. */
  #standByTimer: TimerHandle | null = null;
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #track = (task: Promise<unknown>) => this.#background(task);
  #closed = false;

  /**
   * @param url `redis://host:port/db` or `rediss://…`; credentials in it are refused (UsageError).
   * @param password From `RELEASEMON_FLEET_PASSWORD`, or null for none. Never logged.
   */
  constructor(url: string, password: string | null, options: RedisFleetOptions) {
    const endpoint = parseFleetUrl(url);
    this.#options = checkOptions(options);
    this.#clock = options.clock ?? systemClock;
    const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    if (!Number.isInteger(retentionMs) || retentionMs < 1) {
      throw new RangeError(`Cannot use retentionMs "${retentionMs}": must be an integer >= 1`);
    }
    const connection: RedisConnectionOptions = {};
    if (options.connectTimeoutMs !== undefined) {
      connection.connectTimeoutMs = options.connectTimeoutMs;
    }
    if (options.commandTimeoutMs !== undefined) {
      connection.commandTimeoutMs = options.commandTimeoutMs;
    }
    if (options.tlsCaPem !== undefined) connection.tlsCaPem = options.tlsCaPem;
    this.#conn = new RedisConnection(endpoint, password, connection);
    this.#sub = new RedisConnection(endpoint, password, connection);
    this.#calls = new ScriptCalls(this.#conn, this.#options, retentionMs);
    this.#lease = new SlotLease(this.#calls, this.#clock, this.#options.leaseMs, () => this.#epoch);
    this.#claim = new HostClaim(this.#calls, this.#options, this.#clock, this.#track);
    const channel = `${this.#calls.prefix}wake`;
    this.#wakeUps = new WakeUps(this.#sub, channel, this.#clock, this.#options.pollMs);
  }

  /** The server's display URL (no credentials). */
  get url(): string {
    return this.#conn.endpoint.url;
  }

  /** Connects now, so that a wrong URL or password shows at start-up. */
  async connect(): Promise<void> {
    await this.#conn.connect();
  }

  /**
   * Claims this host id for this process (refreshed in the background until close). Rejects
   * with FleetIdentityError when another live releasemon process holds it, and with
   * FleetUnavailableError when Redis cannot be reached (the first acquire claims it then).
   */
  async join(): Promise<void> {
    this.#checkOpen();
    await this.#claim.claim();
  }

  async acquire(version: FleetVersion, signal: AbortSignal): Promise<SlotDecision> {
    checkVersion(version);
    signal.throwIfAborted();
    this.#checkOpen();
    this.#wakeUps.ensureSubscribed(this.#track);
    this.#stopStandingBy();
    if (this.#claim.stale || this.#claim.conflict !== null) await this.#claim.claim();
    for (;;) {
      const seen = this.#wakeUps.count;
      const call = this.#calls.acquire(version, this.#epoch);
      this.#background(call);
      let reply: string[];
      try {
        reply = await _abortable(call, signal);
      } catch (error) {
        if (signal.aborted) this.#leaveAfter(call, "gave up waiting");
        throw error;
      }
      // close() releases whatever this call registered once it has landed.
      this.#checkOpen();
      const [kind = "", detail = "", epoch = ""] = reply;
      this.#epoch = epoch;
      this.#registered = true;
      if (kind === "go") {
        this.#lease.hold({ version, canary: detail === "1" });
        if (signal.aborted) {
          this.#leaveAfter(Promise.resolve(), "gave up waiting");
          throw signal.reason;
        }
        return { kind: "go", canary: detail === "1" };
      }
      if (kind === "halted") {
        this.#registered = false;
        return { kind: "halted", reason: detail };
      }
      try {
        await this.#wakeUps.wait(seen, signal);
      } catch (error) {
        this.#leaveAfter(Promise.resolve(), "gave up waiting");
        throw error;
      }
      this.#checkOpen();
      const conflict = this.#claim.conflict;
      if (conflict !== null) {
        this.#leaveAfter(Promise.resolve(), "its host id is in use by another process");
        throw conflict;
      }
      this.#wakeUps.ensureSubscribed(this.#track);
    }
  }

  async finish(version: FleetVersion, outcome: HostOutcome): Promise<void> {
    checkVersion(version);
    this.#checkOpen();
    if (this.#lease.held?.version.hash === version.hash) await this.#lease.unhold();
    this.#stopStandingBy();
    const canary = this.#lease.wasCanary(version.hash);
    await this.#calls.finish(version, outcome, canary, this.#lease.wasLost(version.hash));
    this.#registered = false;
  }

  async release(version: FleetVersion): Promise<void> {
    checkVersion(version);
    this.#checkOpen();
    if (this.#lease.held?.version.hash === version.hash) await this.#lease.unhold();
    this.#stopStandingBy();
    // The heartbeat repeats the stand-by, so a call that fails here is retried in the background.
    this.#scheduleStandBy(version);
    await this.#standBy(version);
  }

  async status(versionHash?: string): Promise<RolloutStatus> {
    this.#checkOpen();
    return await this.#calls.status(versionHash);
  }

  async resume(versionHash?: string): Promise<boolean> {
    this.#checkOpen();
    return await this.#calls.resume(versionHash);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const registered = this.#registered || this.#lease.held !== null || this.#tasks.size > 0;
    const claimed = this.#claim.held;
    await this.#stop();
    // Last word from this host, after any in-flight acquire has landed.
    if (registered) {
      try {
        await this.#release("shut down");
      } catch (error) {
        log.warning("Cannot leave the fleet queue: {error}", { error: String(error) });
      }
    }
    if (claimed) {
      await this.#claim.unclaim().catch((error) => {
        log.debug("Cannot drop the host id's claim: {error}", { error: String(error) });
      });
    }
    await this.#sub.close();
    await this.#conn.close();
  }

  /** {@linkcode close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Stops renewing and drops the connections without releasing anything, as if the process had
   * died: the slot frees when its lease expires. For tests of failure handling.
   */
  async abandon(): Promise<void> {
    if (this.#closed) return;
    await this.#stop();
    await this.#sub.close();
    await this.#conn.close();
  }

  /** Refuses new calls, wakes waiters, stops renewing and lets background work finish. */
  async #stop(): Promise<void> {
    this.#closed = true;
    this.#wakeUps.close();
    this.#claim.stop();
    this.#stopStandingBy();
    await this.#lease.close();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new FleetUnavailableError(`Cannot use the fleet at "${this.url}": it was closed`);
    }
  }

  /** Gives the slot back and heartbeats as a waiter; false when no longer registered. */
  async #standBy(version: FleetVersion): Promise<boolean> {
    const registered = await this.#calls.standBy(version);
    if (!registered) this.#stopStandingBy();
    return registered;
  }

  #scheduleStandBy(version: FleetVersion): void {
    const timer = this.#clock.setTimer(() => {
      if (this.#standByTimer !== timer || this.#closed) return;
      this.#scheduleStandBy(version);
      this.#background(
        this.#standBy(version).catch((error) => {
          log.debug("Cannot heartbeat while standing by: {error}", { error: String(error) });
        }),
      );
    }, this.#options.waiterTtlMs / 3);
    this.#standByTimer = timer;
  }

  #stopStandingBy(): void {
    this.#standByTimer?.cancel();
    this.#standByTimer = null;
  }

  async #release(what: string): Promise<void> {
    await this.#calls.release(what);
    this.#registered = false;
  }

  /** After an abort: once `call` settled, leave the queue (and any slot it granted). */
  #leaveAfter(call: Promise<unknown>, what: string): void {
    this.#lease.drop();
    this.#background(
      call.catch(() => {}).then(() => this.#release(what)).catch((error) => {
        log.debug("Cannot leave the fleet queue after abort: {error}", { error: String(error) });
      }),
    );
  }

  /** Tracks `task` until it settles (its failure is the task's own business). */
  #background(task: Promise<unknown>): void {
    this.#tasks.add(task);
    task.catch(() => {}).finally(() => this.#tasks.delete(task));
  }
}

/** Rejects with the signal's reason as soon as it aborts; `promise` keeps running. */
function _abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
