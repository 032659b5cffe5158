/**
 * Start-up safety checks: anyone who can write the version file (or replace it) can make
 * releasemon restart production programs.
 *
 * @module
 */
import { absolutePath, lstatLookup, resolveChain } from "./watch/path_chain.ts";

const WORLD_WRITABLE = 0o002;
const STICKY = 0o1000;

/** The warning for one path's mode, or null (pure). */
export function modeWarning(path: string, mode: number, kind: "file" | "directory"): string | null {
  if ((mode & WORLD_WRITABLE) === 0) return null;
  const octal = (mode & 0o7777).toString(8).padStart(4, "0");
  if (kind === "file") {
    return `Version file "${path}" is writable by every user (mode ${octal}): anyone on this ` +
      `host can trigger restarts; run chmod o-w on it`;
  }
  const sticky = (mode & STICKY) !== 0
    ? " (sticky: others cannot replace an existing file, but can create it while it is missing)"
    : "";
  return `Directory "${path}" on the version file's path is writable by every user (mode ` +
    `${octal})${sticky}: anyone on this host can replace the version file and trigger restarts`;
}

/**
 * Warnings for the version file and the directories that hold it or a symlink to it. A relative
 * `path` is taken from the current directory.
 */
export async function versionFileWarnings(path: string): Promise<string[]> {
  const warnings: string[] = [];
  const chain = await resolveChain(absolutePath(path, Deno.cwd()), lstatLookup).catch(() => null);
  if (!chain) return warnings;
  for (const dir of chain.directories.keys()) {
    const info = await Deno.stat(dir).catch(() => null);
    const warning = info?.mode != null ? modeWarning(dir, info.mode, "directory") : null;
    if (warning) warnings.push(warning);
  }
  if (chain.target) {
    const info = await Deno.stat(chain.target).catch(() => null);
    const warning = info?.mode != null ? modeWarning(chain.target, info.mode, "file") : null;
    if (warning) warnings.push(warning);
  }
  return warnings;
}
