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

import { getLogger } from "../logger.ts";
import { UsageError } from "../errors.ts";
import { quote as _quote } from "../log.ts";
import {
  type ConfConnection,
  connectionFromSections,
  describeExpandFailure,
  expandHere,
  getSetting,
  lookupName,
} from "./_conf_sections.ts";
import { glob, type GlobBudget, MAX_GLOB_ENTRIES, readConfText } from "./_conf_read.ts";
import { compareCodePoints, joinPath, normpath, parentDir } from "./_py_paths.ts";
import { expandPercent, parseIni, pySplit } from "./ini.ts";

export {
  type ConfConnection,
  type ConfContext,
  connectionFromSections,
  type EnvLookup,
} from "./_conf_sections.ts";
export { type IniSections, parseIni } from "./ini.ts";

const log = getLogger(["releasemon", "conf-file"]);

/** The most files `[include]` may pull in. */
export const MAX_INCLUDED_FILES = 64;

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
  const mainText = await readConfText(path, false);
  if (typeof mainText !== "string") return fail(mainText?.problem ?? "no such file");
  const sections = parseIni(mainText, path);
  const sectionFiles = new Map([...sections.keys()].map((name) => [name, path]));
  if (sections.has("include")) {
    expandHere(sections, here);
    const files = getSetting(sections, "include", "files") ??
      fail("it has an [include] section but no files setting");
    const expanded = expandPercent(
      files,
      (name) => lookupName(name, { here, hostNodeName: _hostname }, _readEnv),
    );
    if (!expanded.ok) return fail(`[include] files: ${describeExpandFailure(expanded.failure)}`);
    const budget: GlobBudget = { entries: MAX_GLOB_ENTRIES, fail };
    let included = 0;
    for (const pattern of pySplit(expanded.value)) {
      const joined = joinPath(here, pattern);
      const matches = await glob(joined, false, budget);
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
        const text = await readConfText(file, true);
        if (text === null) continue;
        if (typeof text !== "string") return fail(`included file ${_quote(file)}: ${text.problem}`);
        for (const [name, options] of parseIni(text, file)) {
          const target = sections.get(name) ?? new Map<string, string>();
          for (const [key, value] of options) target.set(key, value);
          sections.set(name, target);
          sectionFiles.set(name, file);
        }
        expandHere(sections, parentDir(normpath(file)));
      }
    }
  }
  return connectionFromSections(sections, here, path, { cwd, env: _readEnv, sectionFiles });
}

// ---- I/O -----------------------------------------------------------------------------------

function _readEnv(name: string): string | undefined {
  return _unlessNotCapable(() => Deno.env.get(name));
}

function _currentDirectory(): string | undefined {
  return _unlessNotCapable(() => Deno.cwd());
}

function _hostname(): string | undefined {
  return _unlessNotCapable(() => Deno.hostname());
}

/** What `read` gives, or `undefined` when releasemon's permissions do not allow it. */
function _unlessNotCapable(read: () => string | undefined): string | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}
