/**
 * Catch-up after downtime: a release that landed while releasemon was not running (crash,
 * supervisord reload, reboot mid-deploy) must not be silently missed.
 *
 * Mechanism, with no state file: the version "appeared" when the last link of its path changed —
 * the newest inode change time (ctime) of the file and of every symlink on its path (a
 * `current` or `..data` swap counts), each taken with lstat, never following the link. Plain
 * directories on the way do not count: their times change whenever a sibling comes or goes
 * (pruning old Capistrano releases touches `releases/`), which says nothing about the version.
 * A target that supervisord started in an earlier second still runs the previous release. ctime,
 * not mtime: rsync and tar copy mtimes from the build machine, while ctime is always set by this
 * host's kernel, and supervisord's `start` comes from the same clock. A target started in the
 * same second as the version is given the benefit of the doubt (a fresh boot must restart
 * nothing), and so is a program restarted by supervisord after the deploy (it already runs the
 * new code).
 *
 * @module
 */
import type { ProcessInfo } from "./supervisor/client.ts";
import {
  absolutePath,
  type Entry,
  type Lookup,
  lstatLookup,
  resolveChain,
} from "./watch/path_chain.ts";

/** The file system as catch-up sees it; injected in tests. */
export interface CatchUpFs {
  /** One path, not following a symlink there (lstat + readlink). */
  lookup: Lookup;
  /** Epoch ms of the last inode change of `path` itself (lstat), or null when it is gone. */
  changedAtMs: (path: string) => Promise<number | null>;
  /** The current directory, for a relative path. */
  cwd: () => string;
}

/** The real {@linkcode CatchUpFs}. */
export const SYSTEM_CATCH_UP_FS: CatchUpFs = {
  lookup: lstatLookup,
  changedAtMs: async (path) => {
    const info = await Deno.lstat(path).catch(() => null);
    return info === null ? null : info.ctime?.getTime() ?? 0;
  },
  cwd: () => Deno.cwd(),
};

/**
 * Epoch seconds when the version at `path` appeared: the newest change of the file and of the
 * symlinks its path goes through. Null when the file is missing. A relative `path` is taken from
 * the current directory.
 */
export async function versionAppearedAt(
  path: string,
  fs: CatchUpFs = SYSTEM_CATCH_UP_FS,
): Promise<number | null> {
  const links: string[] = [];
  const recording: Lookup = async (candidate) => {
    const entry: Entry = await fs.lookup(candidate);
    if (entry.type === "symlink") links.push(candidate);
    return entry;
  };
  const absolute = path.startsWith("/") ? path : absolutePath(path, fs.cwd());
  const chain = await resolveChain(absolute, recording);
  if (chain.target === null) return null;
  const file = await fs.changedAtMs(chain.target);
  if (file === null) return null;
  let newest = file;
  for (const link of links) newest = Math.max(newest, await fs.changedAtMs(link) ?? 0);
  return Math.floor(newest / 1000);
}

/** Targets started in a second before the version appeared (pure). */
export function staleTargets(
  targets: readonly ProcessInfo[],
  appearedAtSec: number,
): ProcessInfo[] {
  return targets.filter((info) => info.start > 0 && info.start < appearedAtSec);
}
