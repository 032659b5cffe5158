/**
 * {@linkcode Fleet} on Redis: every host runs one `RedisFleet` against the same server; each
 * operation is one atomic Lua script (`scripts.ts`, which also documents the key layout), and the
 * lease clock is Redis's own `TIME`.
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
import { getLogger } from "@logtape/logtape";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import {
  type Fleet,
  FleetIdentityError,
  type FleetOptions,
  FleetUnavailableError,
  type FleetVersion,
  type HostOutcome,
  type HostRecord,
  type RolloutStatus,
  type SlotDecision,
} from "./fleet.ts";
import { parseFleetUrl } from "./fleet_url.ts";
import { RedisConnection, type RedisConnectionOptions } from "./_redis_connection.ts";
import { SCRIPTS } from "./scripts.ts";
import {
  type CheckedOptions,
  checkOptions,
  checkVersion,
  DEFAULT_RETENTION_MS,
  emptyStatus,
  identityConflict,
  logLostSlot,
  lostSlotDetail,
} from "./_validate.ts";

const log = getLogger(["releasemon", "fleet"]);

/** Least time between two attempts to restore a lost pub/sub subscription. */
const RESUBSCRIBE_MS = 1_000;
const HOST_STATES: ReadonlySet<string> = new Set([
  "waiting",
  "restarting",
  "done",
  "failed",
  "skipped",
]);

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

interface Held {
  version: FleetVersion;
  canary: boolean;
}

/** The Redis engine; see the module doc. */
export class RedisFleet implements Fleet, AsyncDisposable {
  readonly #options: CheckedOptions;
  readonly #clock: Clock;
  readonly #retentionMs: number;
  readonly #prefix: string;
  readonly #keys: string[];
  readonly #conn: RedisConnection;
  readonly #sub: RedisConnection;
  /** The data set this host last saw (`epoch` key), to notice a Redis that lost its data. */
  #epoch = "";
  #held: Held | null = null;
  /** Canary flag of versions this host held, so a retried finish still reports it. */
  readonly #canaryOf = new Map<string, boolean>();
  /** Versions whose slot this host lost (its lease expired) before it finished. */
  readonly #lost = new Set<string>();
  /** Registered in the queue (or holding) since the last finish/release. */
  #registered = false;
  #renewTimer: TimerHandle | null = null;
  #renewing: Promise<void> | null = null;
  /** Heartbeat of a host standing by after `release`, until it asks again or leaves. */
  #standByTimer: TimerHandle | null = null;
  /** This process's claim on its host id: a random token, refreshed every third of a lease. */
  readonly #token = crypto.randomUUID();
  #claimedAt = -Infinity;
  #claimTimer: TimerHandle | null = null;
  /** Set once another process was found holding our host id; every later acquire rejects. */
  #conflict: FleetIdentityError | null = null;
  #wakeCount = 0;
  readonly #wakers = new Set<() => void>();
  #subscribing: Promise<void> | null = null;
  #lastSubscribeAt = -Infinity;
  readonly #tasks = new Set<Promise<unknown>>();
  #closed = false;

  /**
   * @param url `redis://host:port/db` or `rediss://…`; credentials in it are refused (UsageError).
   * @param password From `RELEASEMON_FLEET_PASSWORD`, or null for none. Never logged.
   */
  constructor(url: string, password: string | null, options: RedisFleetOptions) {
    const endpoint = parseFleetUrl(url);
    this.#options = checkOptions(options);
    this.#clock = options.clock ?? systemClock;
    this.#retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    if (!Number.isInteger(this.#retentionMs) || this.#retentionMs < 1) {
      throw new RangeError(
        `Cannot use retentionMs "${this.#retentionMs}": must be an integer >= 1`,
      );
    }
    this.#prefix = `releasemon:{${this.#options.group}}:`;
    this.#keys = [`${this.#prefix}slots`];
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
    await this.#claim();
  }

  async acquire(version: FleetVersion, signal: AbortSignal): Promise<SlotDecision> {
    checkVersion(version);
    signal.throwIfAborted();
    this.#checkOpen();
    this.#ensureSubscribed();
    this.#stopStandingBy();
    const stale = this.#clock.now() - this.#claimedAt >= this.#options.leaseMs / 3;
    if (stale || this.#conflict !== null) await this.#claim();
    const o = this.#options;
    for (;;) {
      const seen = this.#wakeCount;
      const call = this.#conn.eval(SCRIPTS.acquire, this.#keys, [
        this.#prefix,
        o.hostId,
        version.hash,
        version.label,
        String(o.maxParallel),
        String(o.canary),
        String(o.leaseMs),
        String(o.waiterTtlMs),
        String(this.#retentionMs),
        this.#epoch,
        String(Math.ceil(o.leaseMs / 2)),
      ]);
      this.#background(call);
      let reply: string[];
      try {
        reply = _strings(await _abortable(call, signal), "acquire");
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
        this.#hold({ version, canary: detail === "1" });
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
        await this.#waitForWake(seen, signal);
      } catch (error) {
        this.#leaveAfter(Promise.resolve(), "gave up waiting");
        throw error;
      }
      this.#checkOpen();
      if (this.#conflict !== null) {
        this.#leaveAfter(Promise.resolve(), "its host id is in use by another process");
        throw this.#conflict;
      }
      this.#ensureSubscribed();
    }
  }

  async finish(version: FleetVersion, outcome: HostOutcome): Promise<void> {
    checkVersion(version);
    this.#checkOpen();
    if (this.#held?.version.hash === version.hash) await this.#unhold();
    this.#stopStandingBy();
    const canary = this.#canaryOf.get(version.hash) ?? false;
    const lost = this.#lost.has(version.hash);
    await this.#conn.eval(SCRIPTS.finish, this.#keys, [
      this.#prefix,
      this.#options.hostId,
      version.hash,
      version.label,
      outcome.outcome,
      outcome.ok ? "1" : "0",
      lost ? lostSlotDetail(outcome.detail) : outcome.detail,
      canary ? "1" : "0",
      String(this.#retentionMs),
    ]);
    this.#registered = false;
  }

  async release(version: FleetVersion): Promise<void> {
    checkVersion(version);
    this.#checkOpen();
    if (this.#held?.version.hash === version.hash) await this.#unhold();
    this.#stopStandingBy();
    // The heartbeat repeats the stand-by, so a call that fails here is retried in the background.
    this.#scheduleStandBy(version);
    await this.#standBy(version);
  }

  async status(versionHash?: string): Promise<RolloutStatus> {
    this.#checkOpen();
    const reply = await this.#conn.eval(SCRIPTS.status, this.#keys, [
      this.#prefix,
      versionHash ?? "",
    ]);
    return _parseStatus(this.#options.group, reply);
  }

  async resume(versionHash?: string): Promise<boolean> {
    this.#checkOpen();
    const reply = await this.#conn.eval(SCRIPTS.resume, this.#keys, [
      this.#prefix,
      versionHash ?? "",
    ]);
    return reply === 1;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const registered = this.#registered || this.#held !== null || this.#tasks.size > 0;
    const claimed = this.#claimedAt > -Infinity && this.#conflict === null;
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
      // Frees the id at once, so that a restarted releasemon need not wait for the claim's TTL.
      await this.#conn.eval(SCRIPTS.unclaim, this.#keys, [
        this.#prefix,
        this.#options.hostId,
        this.#token,
      ]).catch((error) => {
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
    for (const wake of this.#wakers) wake();
    this.#claimTimer?.cancel();
    this.#claimTimer = null;
    this.#stopStandingBy();
    this.#stopRenewing();
    await this.#renewing;
    this.#held = null;
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new FleetUnavailableError(`Cannot use the fleet at "${this.url}": it was closed`);
    }
  }

  #hold(held: Held): void {
    this.#held = held;
    this.#canaryOf.clear();
    this.#canaryOf.set(held.version.hash, held.canary);
    this.#scheduleRenewal();
  }

  async #unhold(): Promise<void> {
    this.#stopRenewing();
    await this.#renewing;
    this.#held = null;
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
    }, this.#options.leaseMs / 3);
  }

  async #renew(): Promise<void> {
    const held = this.#held;
    if (held === null || this.#closed) return;
    let result: unknown;
    try {
      result = await this.#conn.eval(SCRIPTS.renew, this.#keys, [
        this.#prefix,
        this.#options.hostId,
        held.version.hash,
        held.version.label,
        String(this.#options.leaseMs),
        held.canary ? "1" : "0",
        String(this.#retentionMs),
        String(this.#options.maxParallel),
        this.#epoch,
      ]);
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

  /** Claims or refreshes the host id and keeps refreshing it; throws on a conflict. */
  async #claim(): Promise<void> {
    this.#keepClaim();
    const o = this.#options;
    const reply = _strings(
      await this.#conn.eval(SCRIPTS.claim, this.#keys, [
        this.#prefix,
        o.hostId,
        this.#token,
        o.instance,
        String(o.leaseMs),
      ]),
      "claim",
    );
    if (reply[0] === "taken") {
      this.#conflict = identityConflict(o, reply[1] ?? "", Number(reply[2] ?? 0));
      throw this.#conflict;
    }
    this.#conflict = null;
    this.#claimedAt = this.#clock.now();
  }

  /**
   * Refreshes the claim every third of a lease (a miss is retried at the next tick). A conflict
   * found here (this process's claim lapsed and another took the id) is logged once; acquire
   * rejects until the id is ours again.
   */
  #keepClaim(): void {
    if (this.#claimTimer !== null || this.#closed) return;
    this.#claimTimer = this.#clock.setTimer(() => {
      this.#claimTimer = null;
      const before = this.#conflict;
      this.#background(
        this.#claim().catch((error) => {
          if (error instanceof FleetIdentityError) {
            if (before === null) log.error("{error}", { error: error.message });
          } else {
            log.debug("Cannot refresh the host id's claim: {error}", { error: String(error) });
          }
        }),
      );
    }, this.#options.leaseMs / 3);
  }

  /** Gives the slot back and heartbeats as a waiter; false when no longer registered. */
  async #standBy(version: FleetVersion): Promise<boolean> {
    const reply = await this.#conn.eval(SCRIPTS.standBy, this.#keys, [
      this.#prefix,
      this.#options.hostId,
      version.hash,
      String(this.#options.waiterTtlMs),
    ]);
    if (reply !== 1) this.#stopStandingBy();
    return reply === 1;
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
    await this.#conn.eval(SCRIPTS.release, this.#keys, [
      this.#prefix,
      this.#options.hostId,
      what,
    ]);
    this.#registered = false;
  }

  /** After an abort: once `call` settled, leave the queue (and any slot it granted). */
  #leaveAfter(call: Promise<unknown>, what: string): void {
    this.#stopRenewing();
    this.#held = null;
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

  /** Keeps the pub/sub subscription alive (best effort: polling still works without it). */
  #ensureSubscribed(): void {
    if (this.#closed || this.#sub.ready || this.#subscribing !== null) return;
    if (this.#clock.now() - this.#lastSubscribeAt < RESUBSCRIBE_MS) return;
    this.#lastSubscribeAt = this.#clock.now();
    const channel = `${this.#prefix}wake`;
    this.#subscribing = this.#sub.subscribe(channel, () => this.#wake()).catch((error) => {
      log.debug("Cannot subscribe to fleet wake-ups: {error}", { error: String(error) });
    }).finally(() => this.#subscribing = null);
    this.#background(this.#subscribing);
  }

  #wake(): void {
    this.#wakeCount++;
    for (const wake of this.#wakers) wake();
  }

  /** Resolves after `pollMs` or at the first wake-up since `seen`; rejects on abort. */
  #waitForWake(seen: number, signal: AbortSignal): Promise<void> {
    if (this.#wakeCount !== seen || this.#closed) return Promise.resolve();
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
      const timer = this.#clock.setTimer(done, this.#options.pollMs);
      this.#wakers.add(done);
      signal.addEventListener("abort", onAbort, { once: true });
    });
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

function _strings(reply: unknown, script: string): string[] {
  if (!Array.isArray(reply) || !reply.every((item) => typeof item === "string")) {
    throw new FleetUnavailableError(`Cannot read the ${script} script's answer: unexpected shape`);
  }
  return reply;
}

function _pairs(flat: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(flat)) return map;
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), String(flat[i + 1]));
  return map;
}

/** Turns the status script's answer into a RolloutStatus; tolerates odd records. */
function _parseStatus(group: string, reply: unknown): RolloutStatus {
  if (!Array.isArray(reply) || reply.length < 4) {
    throw new FleetUnavailableError("Cannot read the status script's answer: unexpected shape");
  }
  const [hash, metaFlat, hostsFlat, slotsRaw] = reply;
  const slots = Array.isArray(slotsRaw) ? slotsRaw.map(String) : [];
  if (typeof hash !== "string" || hash === "") return emptyStatus(group, slots);
  const meta = _pairs(metaFlat);
  const reason = meta.get("haltReason");
  const halted = reason === undefined ? null : {
    reason,
    by: meta.get("haltBy") ?? "",
    at: Number(meta.get("haltAt") ?? 0),
  };
  const hosts: (HostRecord & { ticket: number })[] = [];
  for (const [hostId, raw] of _pairs(hostsFlat)) {
    let rec: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null && typeof parsed === "object") rec = parsed as Record<string, unknown>;
    } catch {
      // A record we cannot read still lists the host.
    }
    const state = typeof rec.state === "string" && HOST_STATES.has(rec.state)
      ? rec.state as HostRecord["state"]
      : "waiting";
    hosts.push({
      hostId,
      state,
      outcome: typeof rec.outcome === "string" ? rec.outcome : null,
      detail: typeof rec.detail === "string" ? rec.detail : "",
      at: typeof rec.at === "number" ? rec.at : 0,
      ticket: typeof rec.ticket === "number" ? rec.ticket : Number.MAX_SAFE_INTEGER,
    });
  }
  hosts.sort((a, b) => a.ticket - b.ticket || a.hostId.localeCompare(b.hostId));
  return {
    group,
    version: { hash, label: meta.get("label") ?? "" },
    halted,
    hosts: hosts.map(({ ticket: _ticket, ...host }) => host),
    slots,
  };
}
