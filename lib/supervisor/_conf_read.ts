/**
 * The file system side of `-c FILE`: reading a config file within a size limit, and Python's
 * `glob.glob` for `[include] files`, with a budget of directory entries.
 *
 * @module
 */

import { quote as _quote } from "../log.ts";
import { fnmatch, hasGlobMagic, joinPath, splitPath } from "./_py_paths.ts";

/** The biggest config file (main or included) accepted. */
export const MAX_CONF_FILE_BYTES = 1024 * 1024;
/** The most directory entries the `[include]` globs may list, all patterns together. */
export const MAX_GLOB_ENTRIES = 10_000;

/**
 * A config file's text, or why not. For an included file, `null` for what supervisord skips
 * silently there: a directory, or a path that vanished (a dangling symlink).
 */
export async function readConfText(
  path: string,
  included: boolean,
): Promise<string | null | { problem: string }> {
  let bytes: Uint8Array;
  try {
    // Checked before opening: opening a FIFO would block.
    const info = await Deno.stat(path);
    if (info.isDirectory) return included ? null : { problem: "it is a directory" };
    if (!info.isFile) return { problem: "it is not a regular file" };
    using file = await Deno.open(path, { read: true });
    const read = await _readAtMost(file, MAX_CONF_FILE_BYTES);
    if (read === null) {
      return { problem: `it is larger than ${MAX_CONF_FILE_BYTES / 1024 / 1024} MiB` };
    }
    bytes = read;
  } catch (error) {
    if (included && error instanceof Deno.errors.NotFound) return null;
    return { problem: _describeReadError(error) };
  }
  try {
    // Like Python's open(): a byte order mark stays (and parseIni reports it).
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (error) {
    if (error instanceof TypeError) return { problem: "it is not valid UTF-8" };
    throw error;
  }
}

/** The whole file, or null when it holds more than `maxBytes`. */
async function _readAtMost(file: Deno.FsFile, maxBytes: number): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buffer = new Uint8Array(64 * 1024);
  for (let n = await file.read(buffer); n !== null; n = await file.read(buffer)) {
    size += n;
    if (size > maxBytes) return null;
    chunks.push(buffer.slice(0, n));
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function _describeReadError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "releasemon is not allowed to read it (Deno --allow-read)";
  }
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof Error) return error.message;
  throw error;
}

export interface GlobBudget {
  /** Directory entries the globs may still list. */
  entries: number;
  fail: (detail: string) => never;
}

/**
 * Python 3.11's `glob.glob(pattern)` (not recursive): wildcards in any segment; names starting
 * with `.` only for a segment pattern that starts with `.`; missing directories give nothing.
 * Not sorted. Unlike Python, a directory releasemon may not list is an error, not "no match".
 */
export async function glob(
  pattern: string,
  dirsOnly: boolean,
  budget: GlobBudget,
): Promise<string[]> {
  const [dirname, basename] = splitPath(pattern);
  if (!hasGlobMagic(pattern)) {
    if (basename !== "") return (await _stat(pattern, "lstat", budget)) ? [pattern] : [];
    return (await _stat(dirname, "stat", budget))?.isDirectory ? [pattern] : [];
  }
  const dirs = dirname !== "" && dirname !== pattern && hasGlobMagic(dirname)
    ? await glob(dirname, true, budget)
    : [dirname];
  const matches: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    if (hasGlobMagic(basename)) {
      const showHidden = basename.startsWith(".");
      names = (await _listDir(dir, dirsOnly, budget)).filter((name) =>
        (showHidden || !name.startsWith(".")) && fnmatch(name, basename)
      );
    } else if (basename !== "") {
      names = (await _stat(joinPath(dir, basename), "lstat", budget)) ? [basename] : [];
    } else {
      names = (await _stat(dir, "stat", budget))?.isDirectory ? [basename] : [];
    }
    for (const name of names) matches.push(joinPath(dir, name));
  }
  return matches;
}

/**
 * The names in `dir` (only directories, symlinks followed, when `dirsOnly`); [] when it is
 * missing or not a directory.
 */
async function _listDir(dir: string, dirsOnly: boolean, budget: GlobBudget): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir === "" ? "." : dir)) {
      if (--budget.entries < 0) {
        budget.fail(`[include] files lists more than ${MAX_GLOB_ENTRIES} directory entries`);
      }
      if (
        !dirsOnly || entry.isDirectory ||
        (entry.isSymlink && (await _stat(joinPath(dir, entry.name), "stat", budget))?.isDirectory)
      ) {
        names.push(entry.name);
      }
    }
  } catch (error) {
    // Python skips a directory it cannot list; an [include] we cannot see is worth an error.
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      budget.fail(`cannot list ${_quote(dir)} for [include]: ${_describeReadError(error)}`);
    }
    if (!_isOsError(error)) throw error;
  }
  return names;
}

/** `stat`/`lstat`, or null when the path cannot be examined (Python's `os.path.lexists`/`isdir`). */
async function _stat(
  path: string,
  how: "stat" | "lstat",
  budget: GlobBudget,
): Promise<Deno.FileInfo | null> {
  try {
    return how === "stat" ? await Deno.stat(path) : await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      budget.fail(`cannot examine ${_quote(path)} for [include]: ${_describeReadError(error)}`);
    }
    if (_isOsError(error)) return null;
    throw error;
  }
}

/** An error from the operating system (Deno gives them an errno `code`). */
function _isOsError(error: unknown): boolean {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string";
}
