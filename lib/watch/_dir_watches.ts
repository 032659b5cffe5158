/**
 * The inotify side of the {@linkcode VersionWatcher}: one `Deno.FsWatcher` per directory of the
 * version file's symlink chain, each pumped into hints (`path_chain.ts` `eventHints`). A directory
 * that cannot be watched is warned about once and counted as blind, so the watcher polls it.
 *
 * @module
 */

import { getLogger } from "../logger.ts";
import { eventHints, type PathChain } from "./path_chain.ts";
import type { Hint } from "./settle.ts";

const log = getLogger(["releasemon", "watch"]);

interface ArmedWatch {
  id: string;
  watcher: Deno.FsWatcher;
  /** The loop reading the watcher's events; ends when the watcher is closed. */
  pump: Promise<void>;
}

/** What the watches tell their owner. */
export interface DirWatchHandlers {
  /** The chain the events are judged against; null while it must be resolved again. */
  chain: () => PathChain | null;
  hint: (hint: Hint) => void;
  /** A watch's stream ended by itself: its directory was deleted. */
  lost: () => void;
  /** A directory could not be watched (first time only): it must be polled. */
  blind: () => void;
}

/** The armed directory watches. */
export class DirWatches {
  readonly #watchFs: (dir: string) => Deno.FsWatcher;
  readonly #on: DirWatchHandlers;
  /** How a blind directory is still seen, for the warning. */
  readonly #fallback: string;
  readonly #watches = new Map<string, ArmedWatch>();
  /** Directories whose watch could not be set up (warned once each): polled instead. */
  readonly #blind = new Set<string>();
  #closed = false;

  constructor(
    watchFs: (dir: string) => Deno.FsWatcher,
    fallback: string,
    handlers: DirWatchHandlers,
  ) {
    this.#watchFs = watchFs;
    this.#fallback = fallback;
    this.#on = handlers;
  }

  /** Number of inotify watches armed. */
  get size(): number {
    return this.#watches.size;
  }

  /** Number of directories that could not be watched. */
  get blindCount(): number {
    return this.#blind.size;
  }

  /** Closes every watch; resolves when their streams have ended. */
  close(): Promise<void> {
    this.#closed = true;
    const pumps = [...this.#watches].map(([dir, armed]) => this.#unwatch(dir, armed));
    return Promise.all(pumps).then(() => {});
  }

  /** Watches exactly the directories of `chain` (a moved-away directory is watched anew). */
  async arm(chain: PathChain): Promise<void> {
    const stale = [...this.#watches].filter(([dir, armed]) =>
      chain.directories.get(dir)?.id !== armed.id
    );
    // Deno 2.9.6 shares one inotify watch between FsWatchers on the same path: a watcher made
    // before the old one's stream has ended joins the old watch, which follows the moved-away
    // directory (measured). So the old streams end first.
    await Promise.all(stale.map(([dir, armed]) => this.#unwatch(dir, armed)));
    if (this.#closed) return;
    for (const dir of this.#blind) if (!chain.directories.has(dir)) this.#blind.delete(dir);
    for (const [dir, { id }] of chain.directories) {
      if (this.#watches.has(dir)) continue;
      let watcher: Deno.FsWatcher;
      try {
        watcher = this.#watchFs(dir);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          // Gone since it was resolved: the next round sees it.
          log.debug("Cannot watch {dir}: {error}", { dir, error: String(error) });
        } else {
          this.#goneBlind(dir, error);
        }
        continue;
      }
      this.#blind.delete(dir);
      const armed: ArmedWatch = { id, watcher, pump: Promise.resolve() };
      this.#watches.set(dir, armed);
      armed.pump = this.#pump(dir, armed);
    }
    log.debug("Watching directories {directories}", { directories: [...this.#watches.keys()] });
  }

  /** Closes one watch; resolves when its stream has ended. */
  #unwatch(dir: string, armed: ArmedWatch): Promise<void> {
    if (this.#watches.get(dir) === armed) this.#watches.delete(dir);
    closeQuietly(armed.watcher);
    return armed.pump;
  }

  async #pump(dir: string, armed: ArmedWatch): Promise<void> {
    let lastRenamedTo: string | null = null;
    try {
      for await (const event of armed.watcher) {
        if (this.#closed) return;
        const chain = this.#on.chain();
        const hints = chain === null ? [] : eventHints(chain, dir, event, lastRenamedTo);
        // Only events that matter are logged: releasemon's own log file may sit in a watched
        // directory, and logging its writes would feed the watch forever.
        if (hints.length > 0) {
          log.debug("File-system event {kind} {paths}", { kind: event.kind, paths: event.paths });
        }
        lastRenamedTo = event.kind === "rename" && event.paths.length === 1
          ? event.paths[0]!
          : null;
        for (const hint of hints) this.#on.hint(hint);
      }
    } catch (error) {
      log.debug("Watch on {dir} failed: {error}", { dir, error: String(error) });
    }
    closeQuietly(armed.watcher); // when it ended by itself: release it before re-watching
    if (!this.#closed && this.#watches.get(dir) === armed) {
      // The stream ended without close(): the directory was deleted and inotify dropped it.
      this.#watches.delete(dir);
      this.#on.lost();
    }
  }

  /** Warns (once per directory) that a watch could not be set up, and makes sure it is polled. */
  #goneBlind(dir: string, error: unknown): void {
    if (this.#blind.has(dir)) return;
    this.#blind.add(dir);
    log.warning(
      "Cannot watch {dir} for changes: {error}; {fix}; {fallback}",
      { dir, error: String(error), fix: _watchFix(error), fallback: this.#fallback },
    );
    this.#on.blind();
  }
}

/** What to do about a watch that could not be set up, from the error Deno.watchFs threw. */
function _watchFix(error: unknown): string {
  const text = String(error);
  if (error instanceof Deno.errors.PermissionDenied || /permission denied/i.test(text)) {
    return "releasemon's user may not read that directory; fix its permissions";
  }
  if (/no space left|os error 28|watch limit/i.test(text)) {
    return "the inotify watch limit is reached; raise it, e.g. " +
      "sysctl fs.inotify.max_user_watches=524288 (and in /etc/sysctl.d/ to keep it)";
  }
  if (/too many open files|os error 24/i.test(text)) {
    return "the inotify instance limit is reached; raise it, e.g. " +
      "sysctl fs.inotify.max_user_instances=1024 (and in /etc/sysctl.d/ to keep it)";
  }
  return "if inotify does not work on this file system (NFS, some container mounts), " +
    "use --poll-interval";
}

function closeQuietly(watcher: Deno.FsWatcher): void {
  try {
    watcher.close();
  } catch { /* closed already: nothing to release */ }
}
