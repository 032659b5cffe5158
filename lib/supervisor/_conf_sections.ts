/**
 * The connection settings a supervisord.conf's sections give a client, pure: supervisor 4.2.5's
 * choice of section (`[supervisorctl]`, else the server's own sections), its `%(name)s` names and
 * its path and address rules (`supervisor/options.py`). `conf_file.ts` reads the files.
 *
 * @module
 */

import { quote as _quote } from "../log.ts";
import { UsageError } from "../errors.ts";
import {
  DEFAULT_SECTION,
  type ExpandFailure,
  expandPercent,
  type IniSections,
  pyStrip,
} from "./ini.ts";
import { joinPath, normpath } from "./_py_paths.ts";
import { parseServerUrl } from "./server_url.ts";

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

const CTL_SECTION = "supervisorctl";
const UNIX_SECTION = "unix_http_server";
const INET_SECTION = "inet_http_server";
const DEFAULT_INET_HOST = "localhost";
const SHA_PREFIX = "{SHA}";

/** Which `%(name)s` names a value may use (supervisor's per-setting expansions). */
export type Names = { here?: string; hostNodeName?: () => string | undefined };

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
    const raw = getSetting(sections, section, key);
    if (raw === undefined) return null;
    const result = expandPercent(raw, (name) => lookupName(name, names, env));
    if (result.ok) return result.value;
    return fail(`[${section}] ${key}: ${describeExpandFailure(result.failure)}`);
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

// ---- supervisor's value rules -------------------------------------------------------------

/** A value from `section`, else from `[DEFAULT]` (configparser's lookup), for existing sections. */
export function getSetting(
  sections: IniSections,
  section: string,
  key: string,
): string | undefined {
  const options = sections.get(section);
  if (options === undefined) return undefined;
  return options.get(key) ?? sections.get(DEFAULT_SECTION)?.get(key);
}

/** The value of `%(name)s`: `here`, `host_node_name` and `ENV_X` where supervisor offers them. */
export function lookupName(name: string, names: Names, env: EnvLookup): string | undefined {
  if (name === "here") return names.here;
  if (name === "host_node_name") return names.hostNodeName?.();
  return name.startsWith("ENV_") ? env(name.slice(4)) : undefined;
}

export function describeExpandFailure(failure: ExpandFailure): string {
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
export function expandHere(sections: IniSections, here: string): void {
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
