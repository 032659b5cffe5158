/**
 * `-c/--configuration FILE`: the server URL, username and password that a supervisord.conf gives a
 * client, read the way supervisor 4.2.5 reads it (`supervisor/options.py`).
 *
 * - `[supervisorctl] serverurl`, `username`, `password`, as `ClientOptions.read_config`: `%(here)s`
 *   (the main file's directory) and `%(ENV_X)s` are expanded, and a `unix://` path is made
 *   absolute (against the current directory) and normalised.
 * - With no `serverurl` (supervisorctl would try `http://localhost:9001`), the server's own
 *   sections, as supervisord reads them (`server_configs_from_parser`): the first section named
 *   `unix_http_server…` (its `file`), else the first `inet_http_server…` (its `port`), each with
 *   its username and password. `[supervisorctl]` username and password win over the server's.
 * - `[include] files`, as supervisord reads it (supervisorctl ignores includes): space-separated
 *   globs relative to the main file's directory, each pattern's matches read in sorted order, not
 *   recursively; `%(here)s` inside an included file is that file's directory.
 *
 * `%(ENV_X)s` reads the environment through `Deno.env.get`. releasemon's compiled binary may only
 * read a few variables: one it may not read counts as unset, and the error says so.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { UsageError } from "../errors.ts";
import { quote as _quote } from "../log.ts";
import {
  compareCodePoints,
  DEFAULT_SECTION,
  type ExpandFailure,
  expandPercent,
  fnmatch,
  hasGlobMagic,
  type IniSections,
  joinPath,
  normpath,
  parentDir,
  parseIni,
  pySplit,
  pyStrip,
  splitPath,
} from "./ini.ts";
import { parseServerUrl } from "./server_url.ts";

export { type IniSections, parseIni } from "./ini.ts";

const log = getLogger(["releasemon", "conf-file"]);

/** Where and how to connect, as a supervisord.conf says. */
export interface ConfConnection {
  serverUrl: string;
  username: string | null;
  password: string | null;
  /** Which section of which file gave the URL, for log lines; never holds the password. */
  source: string;
}

/** Reads an environment variable; `undefined` when it is unset (or may not be read). */
export type EnvLookup = (name: string) => string | undefined;

/** What {@link connectionFromSections} needs besides the sections. */
export interface ConfContext {
  /** The current directory, for relative socket paths (as supervisorctl resolves them). */
  cwd?: string | undefined;
  /** For `%(ENV_X)s` and for `~` (HOME) in socket paths. @default nothing is set */
  env?: EnvLookup | undefined;
  /** Section name → the file that last declared it, for `source` and messages. @default fileName */
  sectionFiles?: ReadonlyMap<string, string> | undefined;
}

/** The biggest config file (main or included) accepted. */
export const MAX_CONF_FILE_BYTES = 1024 * 1024;
/** The most files `[include]` may pull in. */
export const MAX_INCLUDED_FILES = 64;
/** The most directory entries the `[include]` globs may list, all patterns together. */
export const MAX_GLOB_ENTRIES = 10_000;

const CTL_SECTION = "supervisorctl";
const UNIX_SECTION = "unix_http_server";
const INET_SECTION = "inet_http_server";
const DEFAULT_INET_HOST = "localhost";
const SHA_PREFIX = "{SHA}";

/** Which `%(name)s` names a value may use (supervisor's per-setting expansions). */
type Names = { here?: string; hostNodeName?: () => string | undefined };

/**
 * Picks the connection settings from a config's sections (the main file merged with its
 * includes); `here` is the main file's directory, `fileName` the main file for messages.
 *
 * @throws {UsageError} when no server is configured, a setting is missing or cannot be expanded,
 * the server's password is a `{SHA}` hash that no `[supervisorctl]` password replaces, or the URL
 * is invalid. Messages name settings and files, never a password.
 */
export function connectionFromSections(
  sections: IniSections,
  here: string,
  fileName: string,
  context: ConfContext = {},
): ConfConnection {
  const env = context.env ?? (() => undefined);
  const fail = (detail: string): never => {
    throw new UsageError(`Cannot read supervisord config ${_quote(fileName)}: ${detail}`);
  };
  const where = (section: string) =>
    `[${section}] in ${context.sectionFiles?.get(section) ?? fileName}`;
  const setting = (section: string, key: string, names: Names): string | null => {
    const raw = _get(sections, section, key);
    if (raw === undefined) return null;
    const result = expandPercent(raw, (name) => _lookupName(name, names, env));
    if (result.ok) return result.value;
    return fail(`[${section}] ${key}: ${_describeFailure(result.failure)}`);
  };
  const socketPath = (section: string, key: string, path: string): string => {
    const normalized = _normalizePath(path, context.cwd, env);
    if (typeof normalized === "string") return normalized;
    return fail(`[${section}] ${key}: ${normalized.problem}`);
  };
  const checked = (connection: ConfConnection): ConfConnection => {
    try {
      parseServerUrl(connection.serverUrl);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError(`${error.message} (from ${connection.source})`, { cause: error });
    }
    return connection;
  };

  const hasCtl = sections.has(CTL_SECTION);
  const ctlUsername = hasCtl ? setting(CTL_SECTION, "username", {}) : null;
  const ctlPassword = hasCtl ? setting(CTL_SECTION, "password", {}) : null;
  let serverUrl = hasCtl ? setting(CTL_SECTION, "serverurl", { here }) : null;
  if (serverUrl !== null) {
    if (serverUrl.startsWith("unix://")) {
      serverUrl = `unix://${socketPath(CTL_SECTION, "serverurl", serverUrl.slice(7))}`;
    }
    return checked({
      serverUrl,
      username: ctlUsername,
      password: ctlPassword,
      source: where(CTL_SECTION),
    });
  }

  const names = [...sections.keys()];
  const unix = names.find((name) => name.startsWith(UNIX_SECTION));
  const inet = names.find((name) => name.startsWith(INET_SECTION));
  const server = unix ?? inet;
  if (server === undefined) {
    return fail(
      "no [supervisorctl] serverurl, [unix_http_server] or [inet_http_server] section; " +
        "name the server with serverurl= in [supervisorctl]",
    );
  }
  if (server === unix) {
    const file = setting(server, "file", { here }) ?? fail(`${where(server)} has no file setting`);
    serverUrl = `unix://${socketPath(server, "file", pyStrip(file))}`;
  } else {
    const port = setting(server, "port", {}) ?? fail(`${where(server)} has no port setting`);
    const address = _inetUrl(port);
    serverUrl = typeof address === "string"
      ? address
      : fail(`[${server}] port: ${address.problem}`);
  }
  const serverUsername = setting(server, "username", {});
  const serverPassword = setting(server, "password", {});
  if ((serverUsername === null) !== (serverPassword === null)) {
    fail(
      `${where(server)} has a ${serverUsername === null ? "password" : "username"} but no ` +
        `${serverUsername === null ? "username" : "password"}; supervisord needs both or neither`,
    );
  }
  const password = ctlPassword ?? serverPassword;
  if (ctlPassword === null && serverPassword?.startsWith(SHA_PREFIX)) {
    fail(
      `the password in ${where(server)} is a ${SHA_PREFIX} hash, which a client cannot send; ` +
        `give the password itself with SUPERVISOR_PASSWORD or --password-file`,
    );
  }
  const fromCtl = hasCtl && (ctlUsername !== null || ctlPassword !== null);
  return checked({
    serverUrl,
    username: ctlUsername ?? serverUsername,
    password,
    source: where(server) + (fromCtl ? `, credentials from ${where(CTL_SECTION)}` : ""),
  });
}

/**
 * Reads a supervisord.conf and the files its `[include]` names, and picks the connection
 * settings as {@link connectionFromSections} does.
 *
 * @throws {UsageError} when a file is missing, unreadable, too large, not UTF-8 or invalid, an
 * include pattern lists too much, or the config gives no usable server.
 */
export async function readConfConnection(path: string): Promise<ConfConnection> {
  const cwd = _currentDirectory();
  const fail = (detail: string): never => {
    throw new UsageError(`Cannot read supervisord config ${_quote(path)}: ${detail}`);
  };
  if (!path.startsWith("/") && cwd === undefined) {
    fail("give an absolute path; releasemon may not read the current directory");
  }
  const mainPath = normpath(path.startsWith("/") ? path : joinPath(cwd ?? "/", path));
  const here = parentDir(mainPath);
  const mainText = await _readConfText(path, false);
  if (typeof mainText !== "string") return fail(mainText?.problem ?? "no such file");
  const sections = parseIni(mainText, path);
  const sectionFiles = new Map([...sections.keys()].map((name) => [name, path]));
  if (sections.has("include")) {
    _expandHere(sections, here);
    const files = _get(sections, "include", "files") ??
      fail("it has an [include] section but no files setting");
    const expanded = expandPercent(
      files,
      (name) => _lookupName(name, { here, hostNodeName: _hostname }, _readEnv),
    );
    if (!expanded.ok) return fail(`[include] files: ${_describeFailure(expanded.failure)}`);
    const budget: GlobBudget = { entries: MAX_GLOB_ENTRIES, fail };
    let included = 0;
    for (const pattern of pySplit(expanded.value)) {
      const joined = joinPath(here, pattern);
      const matches = await _glob(joined, false, budget);
      if (matches.length === 0) {
        log.warning("No file matches via include {pattern} in {config}", {
          pattern: joined,
          config: path,
        });
        continue;
      }
      for (const file of matches.sort(compareCodePoints)) {
        if (++included > MAX_INCLUDED_FILES) {
          fail(`[include] files matches more than ${MAX_INCLUDED_FILES} files`);
        }
        const text = await _readConfText(file, true);
        if (text === null) continue;
        if (typeof text !== "string") return fail(`included file ${_quote(file)}: ${text.problem}`);
        for (const [name, options] of parseIni(text, file)) {
          const target = sections.get(name) ?? new Map<string, string>();
          for (const [key, value] of options) target.set(key, value);
          sections.set(name, target);
          sectionFiles.set(name, file);
        }
        _expandHere(sections, parentDir(normpath(file)));
      }
    }
  }
  return connectionFromSections(sections, here, path, { cwd, env: _readEnv, sectionFiles });
}

// ---- supervisor's value rules -------------------------------------------------------------

/** A value from `section`, else from `[DEFAULT]` (configparser's lookup), for existing sections. */
function _get(sections: IniSections, section: string, key: string): string | undefined {
  const options = sections.get(section);
  if (options === undefined) return undefined;
  return options.get(key) ?? sections.get(DEFAULT_SECTION)?.get(key);
}

/** The value of `%(name)s`: `here`, `host_node_name` and `ENV_X` where supervisor offers them. */
function _lookupName(name: string, names: Names, env: EnvLookup): string | undefined {
  if (name === "here") return names.here;
  if (name === "host_node_name") return names.hostNodeName?.();
  return name.startsWith("ENV_") ? env(name.slice(4)) : undefined;
}

function _describeFailure(failure: ExpandFailure): string {
  if (failure.kind === "bad-format") {
    return `bad "%" at character ${failure.offset + 1}; ` +
      `write %(name)s to insert a value and %% for a literal "%"`;
  }
  const name = `%(${failure.name})s`;
  if (failure.name === "host_node_name") {
    return `${name} needs the host name, which releasemon may not read (Deno --allow-sys)`;
  }
  if (failure.name.startsWith("ENV_")) {
    return `${name} names environment variable ${_quote(failure.name.slice(4))}, which is not ` +
      `set (or releasemon is not allowed to read it)`;
  }
  return `${name} cannot be expanded here`;
}

/**
 * supervisord's `expand_here`: replaces `%(here)s` in every section (with `[DEFAULT]` values
 * copied in) by `here`, written so that the later `%` expansion gives back `here` exactly.
 */
function _expandHere(sections: IniSections, here: string): void {
  const marker = "%(here)s";
  const defaults = sections.get(DEFAULT_SECTION) ?? new Map<string, string>();
  for (const [name, options] of sections) {
    if (name === DEFAULT_SECTION) continue;
    for (const [key, value] of new Map([...defaults, ...options])) {
      if (value.includes(marker)) {
        options.set(key, value.replaceAll(marker, here.replaceAll("%", "%%")));
      }
    }
  }
}

/** supervisord's `inet_address` for a client: `[host:]port`, `*` or no host meaning localhost. */
function _inetUrl(value: string): string | { problem: string } {
  const colon = value.lastIndexOf(":");
  let host = colon < 0 ? "" : value.slice(0, colon).toLowerCase();
  const portText = colon < 0 ? value : value.slice(colon + 1);
  if (colon >= 0 && portText === "") return { problem: "no port number after the colon" };
  const port = /^\s*\+?[0-9]+\s*$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    return { problem: `${_quote(portText)} is not a port number from 1 to 65535` };
  }
  if (host === "" || host === "*") host = DEFAULT_INET_HOST;
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `http://${host}:${port}`;
}

/** supervisor's `normalize_path`: expand `~`, make absolute against `cwd`, normalise. */
function _normalizePath(
  path: string,
  cwd: string | undefined,
  env: EnvLookup,
): string | { problem: string } {
  if (path === "") return { problem: "no socket path" };
  if (path.startsWith("~")) {
    const slash = path.indexOf("/");
    const end = slash < 0 ? path.length : slash;
    if (end > 1) return { problem: `"~user" paths are not supported; write the path in full` };
    const home = env("HOME");
    if (home === undefined) {
      return { problem: "the path starts with ~ but HOME is not set (or may not be read)" };
    }
    path = (home.replace(/\/+$/, "") + path.slice(end)) || "/";
  }
  if (!path.startsWith("/")) {
    if (cwd === undefined) {
      return { problem: "a relative path, and the current directory is unknown; make it absolute" };
    }
    path = joinPath(cwd, path);
  }
  return normpath(path);
}

// ---- I/O -----------------------------------------------------------------------------------

function _readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}

function _currentDirectory(): string | undefined {
  try {
    return Deno.cwd();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}

function _hostname(): string | undefined {
  try {
    return Deno.hostname();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}

/**
 * A config file's text, or why not. For an included file, `null` for what supervisord skips
 * silently there: a directory, or a path that vanished (a dangling symlink).
 */
async function _readConfText(
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

interface GlobBudget {
  /** Directory entries the globs may still list. */
  entries: number;
  fail: (detail: string) => never;
}

/**
 * Python 3.11's `glob.glob(pattern)` (not recursive): wildcards in any segment; names starting
 * with `.` only for a segment pattern that starts with `.`; missing directories give nothing.
 * Not sorted. Unlike Python, a directory releasemon may not list is an error, not "no match".
 */
async function _glob(pattern: string, dirsOnly: boolean, budget: GlobBudget): Promise<string[]> {
  const [dirname, basename] = splitPath(pattern);
  if (!hasGlobMagic(pattern)) {
    if (basename !== "") return (await _stat(pattern, "lstat", budget)) ? [pattern] : [];
    return (await _stat(dirname, "stat", budget))?.isDirectory ? [pattern] : [];
  }
  const dirs = dirname !== "" && dirname !== pattern && hasGlobMagic(dirname)
    ? await _glob(dirname, true, budget)
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
