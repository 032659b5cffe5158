/**
 * Catch-up after downtime: a release that landed while releasemon was not running (crash,
 * supervisord reload, reboot mid-deploy) must not be silently missed.
 *
 * Mechanism, with no state file: the version "appeared" when the last link of its path changed —
 * the newest inode change time (ctime) of the file and of every symlink on its path (a
 * `current` or `..data` swap counts). A target that supervisord started in an earlier second
 * still runs the previous release. ctime, not mtime: rsync and tar copy mtimes from the build
 * machine, while ctime is always set by this host's kernel, and supervisord's `start` comes from
 * the same clock. A target started in the same second as the version is given the benefit of the
 * doubt (a fresh boot must restart nothing), and so is a program restarted by supervisord after
 * the deploy (it already runs the new code).
 *
 * @module
 */
import type { ProcessInfo } from "./supervisor/client.ts";
import { lstatLookup, resolveChain } from "./watch/path_chain.ts";

/** Epoch seconds when the version at `path` appeared, or null when the file is missing. */
export async function versionAppearedAt(path: string): Promise<number | null> {
  const chain = await resolveChain(path, lstatLookup);
  if (chain.target === null) return null;
  let newest = 0;
  for (const [dir, watched] of chain.directories) {
    for (const name of watched.names.keys()) {
      const info = await Deno.lstat(dir === "/" ? `/${name}` : `${dir}/${name}`).catch(() => null);
      newest = Math.max(newest, info?.ctime?.getTime() ?? 0);
    }
  }
  const file = await Deno.stat(chain.target).catch(() => null);
  if (!file) return null;
  newest = Math.max(newest, file.ctime?.getTime() ?? 0);
  return Math.floor(newest / 1000);
}

/** Targets started in a second before the version appeared (pure). */
export function staleTargets(
  targets: readonly ProcessInfo[],
  appearedAtSec: number,
): ProcessInfo[] {
  return targets.filter((info) => info.start > 0 && info.start < appearedAtSec);
}
