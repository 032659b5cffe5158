/**
 * The VersionWatcher: reports each new version of ONE version file, however it is replaced.
 *
 * File-system events are hints, never the truth: a relevant hint starts settling (`settle.ts`),
 * and when it has settled the path's symlink chain is re-resolved (`path_chain.ts`), the watches
 * re-armed if it changed, and the content re-read and hashed (`version_file.ts`). A version is
 * reported when its hash differs from the last one reported.
 *
 * A directory of the path renamed away (`/srv/app` moved, a new `/srv/app` made) is noticed
 * without watching its parent: inotify reports the move on the moved directory's own watch (an
 * event whose path is the directory itself) and ends the stream when it is deleted; both count
 * as hints, and every settled read re-resolves the chain, comparing each directory's dev:ino. The
 * safety-net re-check does the same, so even a lost event costs at most `recheckMs`. Watching the
 * parent too would double the watches and listen to a busy directory (`/etc`, `/`) for nothing.
 *
 * @module
 */

import { getLogger } from "../logger.ts";
import { type Clock, soon, systemClock, type TimerHandle } from "../clock.ts";
import { formatDuration } from "../delay.ts";
import { DirWatches } from "./_dir_watches.ts";
import { absolutePath, lstatLookup, type PathChain, resolveChain } from "./path_chain.ts";
import { checkNonNegative as checkMs } from "../check.ts";
import {
  type Hint,
  REPORT_INITIAL,
  reportRead,
  type ReportState,
  SETTLE_IDLE,
  settleOnHint,
  settleOnTimer,
  type SettleOptions,
  settleOptions,
  type SettleState,
} from "./settle.ts";
import { readVersionDetailed, statIdentity, type Version } from "./version_file.ts";

export type { Version } from "./version_file.ts";

/** Options of {@linkcode VersionWatcher}; all times in ms. */
export interface WatcherOptions {
  /** Quiet time after a bare modify and after each hint of a burst. @default {200} */
  settleMs?: number;
  /** Quiet time after a completed lone write. @default {10} */
  quickSettleMs?: number;
  /** Longest wait from a sequence's first hint to the read. @default {5000} */
  maxSettleMs?: number;
  /** Safety-net re-check period; 0 disables it. @default {10000} */
  recheckMs?: number;
  /** When set (> 0): polling only, no inotify at all (NFS, some container mounts). */
  pollMs?: number;
  clock?: Clock;
  /** Sets up one directory's watch. @default {(dir) => Deno.watchFs(dir, { recursive: false })} */
  watchFs?: (dir: string) => Deno.FsWatcher;
}

/** What the watcher reports. */
export type WatchEvent =
  /** The settled content differs from the last version reported (or the baseline). */
  | { type: "VersionSeen"; version: Version }
  /** The file disappeared; reported once until a version is read again. */
  | { type: "VersionMissing" };

/**
 * A safety-net re-check costs a few lstat calls and one stat while idle (it re-hashes only when
 * the chain or the file's dev, ino, size, mtime or ctime changed), so its idle cost is about zero;
 * every 10 s bounds the delay of a missed inotify event to 10 s, short next to a deploy.
 */
export const DEFAULT_RECHECK_MS = 10_000;
/**
 * Re-check period while a directory cannot be watched and the safety net is off (`recheckMs` 0):
 * blind is never an option, so the watcher polls that often instead.
 */
export const FALLBACK_POLL_MS = 1_000;
/** Re-resolve-and-arm rounds per check, in case the path keeps changing while being armed. */
const MAX_ARM_ROUNDS = 4;

const log = getLogger(["releasemon", "watch"]);

/** Watches one version file through the directories of its symlink chain. */
export class VersionWatcher implements AsyncDisposable {
  readonly #path: string;
  readonly #settle: SettleOptions;
  readonly #recheckMs: number;
  readonly #pollMs: number;
  readonly #clock: Clock;
  #phase: "new" | "started" | "closed" = "new";
  /** A re-check timer is set or its check is running; it re-arms itself while needed. */
  #rechecking = false;
  #onEvent: ((event: WatchEvent) => void) | null = null;
  #chain: PathChain | null = null;
  readonly #dirs: DirWatches;
  #settleState: SettleState = SETTLE_IDLE;
  #settleTimer: TimerHandle | null = null;
  #recheckTimer: TimerHandle | null = null;
  #queue: Promise<void> = Promise.resolve();
  #queued: "none" | "cheap" | "full" = "none";
  #report: ReportState = REPORT_INITIAL;
  /** A hint since the last chain sync may have changed the path's links or directories. */
  #chainSuspect = false;
  /** Stat identity of the last read; undefined before the first. */
  #identity: string | null | undefined = undefined;
  #closed: Promise<void> | null = null;

  constructor(path: string, options: WatcherOptions = {}) {
    if (path === "") throw new TypeError("Cannot watch the version file: the path is empty");
    this.#path = absolutePath(path, Deno.cwd());
    this.#settle = settleOptions(options);
    this.#recheckMs = checkMs("recheckMs", options.recheckMs ?? DEFAULT_RECHECK_MS);
    this.#pollMs = checkMs("pollMs", options.pollMs ?? 0);
    this.#clock = options.clock ?? systemClock;
    const fallback = this.#recheckMs > 0
      ? `changes there are seen only by the re-check every ${formatDuration(this.#recheckMs)}`
      : `polling every ${formatDuration(FALLBACK_POLL_MS)} instead (--recheck-interval is 0)`;
    const watchFs = options.watchFs ?? ((dir) => Deno.watchFs(dir, { recursive: false }));
    this.#dirs = new DirWatches(watchFs, fallback, {
      chain: () => this.#chain,
      hint: (hint) => this.#hint(hint),
      lost: () => {
        this.#chain = null;
        this.#hint("removed");
      },
      blind: () => {
        if (this.#phase === "started") this.#scheduleRecheck();
      },
    });
  }

  /** Number of inotify watches currently armed (0 in polling mode). */
  get watchCount(): number {
    return this.#dirs.size;
  }

  /** Reads the baseline (null when the file is missing or empty), arms the watches, and starts delivering events to `onEvent`. */
  async start(onEvent: (event: WatchEvent) => void): Promise<Version | null> {
    if (this.#phase !== "new") {
      throw new Error(`Cannot start watching "${this.#path}": already ${this.#phase}`);
    }
    this.#phase = "started";
    this.#onEvent = onEvent;
    await this.#syncChain();
    const baseline = await this.#read(false);
    const { watchCount } = this;
    log.info(`Watching {path} with {watchCount} ${watchCount === 1 ? "watch" : "watches"}`, {
      path: this.#path,
      watchCount,
    });
    this.#scheduleRecheck();
    return baseline;
  }

  /** Releases every watch and timer; resolves when all are closed. No event is delivered after. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#phase = "closed";
    this.#settleTimer?.cancel();
    this.#recheckTimer?.cancel();
    this.#closed = Promise.all([this.#dirs.close(), this.#queue]).then(() => {});
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Re-resolves the chain and, when it changed, re-arms; true when it changed. */
  async #syncChain(): Promise<boolean> {
    let changed = false;
    for (let round = 0; round < MAX_ARM_ROUNDS; round++) {
      const chain = await resolveChain(this.#path, lstatLookup);
      if (this.#phase === "closed" || chain.key === this.#chain?.key) break;
      changed = true;
      this.#chain = chain;
      if (this.#pollMs === 0) await this.#dirs.arm(chain);
      // Then resolve again: a change between the lookups and the arming would go unseen.
    }
    // A directory that could not be watched (permissions) is tried again at every check.
    if (!changed && this.#pollMs === 0 && this.#dirs.blindCount > 0 && this.#chain !== null) {
      await this.#dirs.arm(this.#chain);
    }
    return changed;
  }

  #hint(hint: Hint): void {
    if (this.#phase !== "started") return;
    // Only a write in place ("writing", "closed": the file's own modify and close) leaves every
    // link and directory on the path as it was.
    if (hint !== "writing" && hint !== "closed") this.#chainSuspect = true;
    const now = this.#clock.now();
    const next = settleOnHint(this.#settleState, hint, now, this.#settle);
    this.#settleState = next;
    this.#armSettleTimer(next.deadlineAt - now);
  }

  #armSettleTimer(delayMs: number): void {
    this.#settleTimer?.cancel();
    const fire = () => {
      const now = this.#clock.now();
      const { state, read } = settleOnTimer(this.#settleState, now);
      this.#settleState = state;
      if (read) this.#enqueue("full");
      else if (state.phase === "settling") this.#armSettleTimer(state.deadlineAt - now);
    };
    // Due now (the writer closed the file, or a rename landed it): read once this event is
    // handled, not a timer's 2 ms later. A later deadline re-arms with a real delay, never 0.
    this.#settleTimer = delayMs <= 0 ? soon(fire) : this.#clock.setTimer(fire, delayMs);
  }

  /** Runs checks one at a time; requests made while one is waiting merge into it. */
  #enqueue(kind: "cheap" | "full"): void {
    if (this.#queued !== "none") {
      if (kind === "full") this.#queued = "full";
      return;
    }
    this.#queued = kind;
    this.#queue = this.#queue.then(async () => {
      const full = this.#queued === "full";
      this.#queued = "none";
      if (this.#phase === "started") await this.#check(full);
    }).catch((error: unknown) => {
      log.error("Cannot check the version file {path}: {error}", { path: this.#path, error });
    });
  }

  /** Re-resolves and re-arms; then re-reads when `full`, when the chain changed, or when the file's stat identity did. */
  async #check(full: boolean): Promise<void> {
    // After in-place writes to a file that existed at the last sync, the chain is as that sync
    // left it (putting anything else at the file's name takes a removal or a rename first, which
    // are suspect): skip its lookups, a few file-system calls off every restart. A file that was
    // missing may have come back as a symlink, and re-checks always sync.
    const sync = !full || this.#chainSuspect || (this.#chain?.target ?? null) === null;
    this.#chainSuspect = false;
    if (full && sync) {
      // Read first: the kernel follows the links itself, so the read need not wait for the
      // lookups and new watches (a symlink swap arms a watch on the new release's directory).
      // Should the chain have changed, read again once the new watches are armed, so that a
      // write in between is not missed (the same content is no news).
      await this.#read(true);
      if (this.#phase === "started" && await this.#syncChain()) await this.#read(true);
      return;
    }
    const chainChanged = sync && await this.#syncChain();
    if (!full && !chainChanged && await statIdentity(this.#path) === this.#identity) return;
    if (this.#phase === "started") await this.#read(true);
  }

  /** Reads, and reports what is news unless this is the baseline read of start(). */
  async #read(started: boolean): Promise<Version | null> {
    const { read, identity } = await readVersionDetailed(this.#path);
    this.#identity = identity;
    if (this.#phase === "closed") return null;
    const { state, report, warn } = reportRead(this.#report, read);
    this.#report = state;
    const path = this.#path;
    if (warn === "missing" && started) {
      log.warn("Version file {path} deleted; waiting for it to come back", { path });
    } else if (warn === "missing") {
      log.warn("Version file {path} missing; waiting for it", { path });
    }
    const reason = state.unreadableReason;
    if (warn === "unreadable") {
      log.warn("Cannot read the version file {path}: {reason}; watching on", { path, reason });
    }
    if (started && report === "VersionSeen" && state.last !== null) {
      log.debug("Version {label} seen", { path, ...state.last });
      this.#emit({ type: "VersionSeen", version: state.last });
    } else if (started && report === "VersionMissing") this.#emit({ type: "VersionMissing" });
    return read.kind === "version" ? read.version : null;
  }

  #recheckEveryMs(): number {
    if (this.#pollMs > 0) return this.#pollMs;
    if (this.#recheckMs > 0) return this.#recheckMs;
    return this.#dirs.blindCount > 0 ? FALLBACK_POLL_MS : 0;
  }

  #scheduleRecheck(): void {
    const everyMs = this.#recheckEveryMs();
    if (everyMs === 0 || this.#phase !== "started" || this.#rechecking) return;
    this.#rechecking = true;
    this.#recheckTimer = this.#clock.setTimer(() => {
      this.#recheckTimer = null;
      this.#enqueue("cheap");
      void this.#queue.then(() => {
        this.#rechecking = false;
        this.#scheduleRecheck();
      });
    }, everyMs);
  }

  #emit(event: WatchEvent): void {
    if (this.#phase !== "started") return;
    try {
      this.#onEvent?.(event);
    } catch (error) {
      log.error("The version event handler failed on {type}: {error}", { ...event, error });
    }
  }
}
