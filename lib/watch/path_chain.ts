/**
 * The symlink chain of the version file's path, resolved component by component, and the few
 * directories to watch so that no way of replacing the file goes unseen.
 *
 * A watch on the file itself follows its inode and goes stale at the first write-temp-then-rename,
 * so we watch directories, and only these: the directory holding the file, and every directory
 * holding a symlink on the path (`/srv/app` for `current -> releases/42`; `/etc/cfg` for a
 * ConfigMap's `VERSION -> ..data/VERSION` and `..data -> ..2026_...`). While part of the path is
 * missing, the deepest existing directory is watched for the next missing name.
 *
 * {@linkcode resolveChain} and {@linkcode roleOf} are pure (the file system comes in as a
 * {@linkcode Lookup}); {@linkcode lstatLookup} is the I/O.
 *
 * @module
 */

import { type Hint, hintFor, type HintRole } from "./settle.ts";

/** What one path is, without following a symlink there. `id` is "dev:ino". */
export type Entry =
  | { type: "directory"; id: string }
  | { type: "file"; id: string }
  | { type: "symlink"; target: string }
  | { type: "missing" };

/** Looks one absolute path up (lstat + readlink). */
export type Lookup = (path: string) => Promise<Entry>;

/** A directory to watch: its identity when resolved, and the names in it that matter. */
export interface WatchedDirectory {
  /** "dev:ino" when resolved: a different id at the same path means a replaced directory. */
  id: string;
  /** Name → "file" (the version file, present or awaited) or "link" (a symlink or an awaited directory). */
  names: Map<string, "file" | "link">;
}

/** The resolved path. */
export interface PathChain {
  /** Directories to watch, by absolute path. */
  directories: Map<string, WatchedDirectory>;
  /** The absolute path the version file resolves to, when every component exists. */
  target: string | null;
  /** Equal keys mean equal watches, names and target: nothing to re-arm. */
  key: string;
}

/** Linux's limit on symlinks followed in one lookup (ELOOP beyond it). */
export const MAX_SYMLINK_HOPS = 40;

/**
 * `path` made absolute against `cwd` (itself absolute), as the kernel would look it up: `.` and
 * `..` are kept for {@linkcode resolveChain}, which resolves them after the symlinks before them.
 */
export function absolutePath(path: string, cwd: string): string {
  if (path.startsWith("/")) return path;
  return cwd.endsWith("/") ? `${cwd}${path}` : `${cwd}/${path}`;
}

/**
 * Resolves absolute `path` like the kernel would, recording which directories hold the file, a
 * symlink on the way, or the first missing name. Stops without error at a missing component, a
 * file where a directory is needed, or a symlink loop: the read that follows reports those.
 */
export async function resolveChain(path: string, lookup: Lookup): Promise<PathChain> {
  if (!path.startsWith("/")) {
    throw new TypeError(`Cannot resolve the symlink chain of "${path}": not an absolute path`);
  }
  const directories = new Map<string, WatchedDirectory>();
  const note = (dirs: Step[], name: string, role: "file" | "link") => {
    const dir = dirs[dirs.length - 1]!;
    let watched = directories.get(dir.path);
    if (watched === undefined) {
      watched = { id: dir.id, names: new Map() };
      directories.set(dir.path, watched);
    }
    // A name seen first as a link stays a link (a symlinked file is watched as a link).
    if (!watched.names.has(name)) watched.names.set(name, role);
  };
  const root = await lookup("/");
  let stack: Step[] = [{ path: "/", id: root.type === "directory" ? root.id : "?" }];
  let pending = splitComponents(path);
  let hops = 0;
  let target: string | null = null;
  while (pending.length > 0) {
    const [name, ...rest] = pending as [string, ...string[]];
    pending = rest;
    if (name === ".") continue;
    if (name === "..") {
      if (stack.length > 1) stack = stack.slice(0, -1);
      continue;
    }
    const here = stack[stack.length - 1]!.path;
    const candidate = joinPath(here, name);
    const entry = await lookup(candidate);
    if (entry.type === "symlink") {
      note(stack, name, "link");
      if (++hops > MAX_SYMLINK_HOPS) break;
      if (entry.target.startsWith("/")) stack = stack.slice(0, 1);
      pending = [...splitComponents(entry.target), ...pending];
      continue;
    }
    if (pending.length === 0) {
      // The last component: the version file itself (missing, a file, or a directory by mistake).
      note(stack, name, "file");
      if (entry.type !== "missing") target = candidate;
      break;
    }
    if (entry.type !== "directory") {
      // Missing, or a file where a directory should be: wait for this name to change.
      note(stack, name, "link");
      break;
    }
    // A directory on the way that sits in a watched directory (`releases` next to the `current`
    // symlink, the ConfigMap's `..2026_...`): renaming or removing it changes the path, and the
    // watch is there anyway.
    if (directories.has(here)) note(stack, name, "link");
    stack = [...stack, { path: candidate, id: entry.id }];
  }
  return { directories, target, key: chainKey(directories, target) };
}

/**
 * The role of the name a watch event touched, or null when it does not matter (other files in
 * the same directory). `eventPath` is as Deno.watchFs reports it: the watched directory joined
 * with the name, or the directory itself when it was moved or deleted.
 */
export function roleOf(chain: PathChain, watchedPath: string, eventPath: string): HintRole | null {
  const watched = chain.directories.get(watchedPath);
  if (watched === undefined) return null;
  if (eventPath === watchedPath) return "self";
  const slash = eventPath.lastIndexOf("/");
  const dir = slash === 0 ? "/" : eventPath.slice(0, slash);
  if (dir !== watchedPath) return null;
  return watched.names.get(eventPath.slice(slash + 1)) ?? null;
}

/**
 * The hints in one Deno.watchFs event seen on `watchedPath`, in order; names off the chain give
 * none. `lastRenamedTo` is the destination of the previous event when it was a one-path rename:
 * Deno reports a rename as `remove [from]`, `rename [to]`, then `rename [from, to]`, and that
 * last one is an echo (not a second write) when it follows `rename [to]`.
 */
export function eventHints(
  chain: PathChain,
  watchedPath: string,
  event: { kind: string; paths: readonly string[] },
  lastRenamedTo: string | null,
): Hint[] {
  const { kind, paths } = event;
  if (kind === "rename" && paths.length === 2) {
    if (paths[1] === lastRenamedTo) return [];
    // Not preceded by its parts: the old name went away, the new one landed.
    return paths.flatMap((path, i) => {
      const role = roleOf(chain, watchedPath, path);
      return role === null ? [] : [hintFor(i === 0 ? "remove" : "rename", role)];
    });
  }
  return paths.flatMap((path) => {
    const role = roleOf(chain, watchedPath, path);
    return role === null ? [] : [hintFor(kind, role)];
  });
}

/** The real {@linkcode Lookup}: `Deno.lstat`, and `Deno.readLink` for symlinks. */
export async function lstatLookup(path: string): Promise<Entry> {
  try {
    const info = await Deno.lstat(path);
    if (info.isSymlink) return { type: "symlink", target: await Deno.readLink(path) };
    const id = `${info.dev}:${info.ino}`;
    return info.isDirectory ? { type: "directory", id } : { type: "file", id };
  } catch (error) {
    // Gone (also between lstat and readlink), not a directory on the way, or not searchable:
    // all mean "wait here"; the read that follows says which.
    if (
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ||
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.InvalidData
    ) {
      return { type: "missing" };
    }
    throw error;
  }
}

interface Step {
  path: string;
  id: string;
}

function splitComponents(path: string): string[] {
  return path.split("/").filter((part) => part !== "");
}

function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function chainKey(directories: Map<string, WatchedDirectory>, target: string | null): string {
  const parts = [...directories].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(
    ([path, { id, names }]) => [path, id, [...names].sort()],
  );
  return JSON.stringify([parts, target]);
}
