/**
 * What `--check` and `--status` look at, gathered once and never changing anything: supervisord's
 * answers, the version file, when it appeared, where the hooks' programs are, and (with
 * `--fleet`) whether Redis answers. Every failure becomes a fact, not an exception, so the pure
 * reports (`check.ts`, `status.ts`) can name each problem with its fix.
 *
 * Never restarts, never runs a hook (a shell only looks its program up), never joins the fleet.
 *
 * @module
 */
import { FleetUnavailableError } from "../fleet/fleet.ts";
import { versionAppearedAt } from "../catch_up.ts";
import type { Config } from "../config.ts";
import { SupervisorAuthError, SupervisorUnavailableError, UsageError } from "../errors.ts";
import { createClient, type ProcessInfo } from "../supervisor/client.ts";
import { parseServerUrl } from "../supervisor/server_url.ts";
import { readVersion, type VersionRead } from "../watch/version_file.ts";
import { type HookProgram, hookProgram } from "./hook_command.ts";

/** supervisord as releasemon found it. */
export type SupervisorFacts =
  | { kind: "ok"; url: string; state: string; infos: ProcessInfo[] }
  /** Not reachable now (missing socket, refused, timeout): time or a running supervisord fixes it. */
  | { kind: "unreachable"; url: string; message: string; fix: string }
  /** Reached, but it refused the credentials or is not a usable supervisord. */
  | { kind: "refused"; url: string; message: string; fix: string }
  /** A URL releasemon cannot use, or may not connect to (Deno permissions): a configuration problem. */
  | { kind: "unusable"; url: string; message: string; fix: string };

/** Where a hook's program was found. */
export interface HookFacts {
  hook: "pre" | "post";
  command: string;
  program: HookProgram;
  found: "executable" | "builtin" | "missing" | "not-executable" | "directory" | "unchecked";
  /** The file that would run, when found in PATH or given as a path. */
  resolved: string | null;
}

/** The fleet's Redis server as releasemon found it (null without `--fleet`). */
export type FleetFacts =
  | { kind: "ok"; url: string }
  | { kind: "unreachable" | "refused"; url: string; message: string };

export interface Facts {
  versionFile: string;
  version: VersionRead;
  /** Epoch seconds when the version appeared (catch-up's rule), null when there is none. */
  appearedAtSec: number | null;
  supervisor: SupervisorFacts;
  hooks: HookFacts[];
  fleet: FleetFacts | null;
}

/** supervisord's URL and credentials, as main.ts resolves them (flags, `-c FILE`, environment). */
export interface Connection {
  serverUrl: string;
  username: string | null;
  password: string | null;
}

/** Gathers every fact; `withHooks`/`withFleet` are false for `--status`. */
export async function probe(
  config: Config,
  connection: Connection,
  options: { withHooks: boolean; withFleet: boolean },
): Promise<Facts> {
  const [version, appearedAtSec, supervisor, hooks, fleet] = await Promise.all([
    readVersion(config.versionFile),
    versionAppearedAt(config.versionFile).catch(() => null),
    probeSupervisor(connection, config.rpcTimeoutMs),
    options.withHooks ? probeHooks(config) : Promise.resolve([]),
    options.withFleet && config.fleet ? probeFleet(config) : Promise.resolve(null),
  ]);
  return { versionFile: config.versionFile, version, appearedAtSec, supervisor, hooks, fleet };
}

const SOCKET_FIX = "start supervisord, or give the file= of its [unix_http_server] section " +
  "with -s unix:///path (or -c /etc/supervisor/supervisord.conf)";

async function probeSupervisor(
  connection: Connection,
  timeoutMs: number,
): Promise<SupervisorFacts> {
  let endpoint;
  try {
    endpoint = parseServerUrl(connection.serverUrl);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const fix = "use unix:///path/to/supervisor.sock or http://host:port";
    return { kind: "unusable", url: connection.serverUrl, message: error.message, fix };
  }
  const url = endpoint.url;
  if (endpoint.kind === "unix") {
    // Before connecting: a socket this binary may not use would otherwise be reported as a
    // missing Deno permission, even when the real problem is a typo in the path.
    const exists = await Deno.lstat(endpoint.path).then(() => true, (error) => {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
        return false;
      }
      return true; // let the connection report it
    });
    if (!exists) {
      const permitted = Deno.permissions.querySync({ name: "write", path: endpoint.path });
      const binary = permitted.state === "granted" ? "" : "; note that this releasemon may " +
        "connect only to the sockets it was built for (deno task compile --socket PATH)";
      return {
        kind: "unreachable",
        url,
        message: `Cannot connect to supervisord at ${JSON.stringify(url)}: no such socket ` +
          `${JSON.stringify(endpoint.path)}${binary}`,
        fix: SOCKET_FIX,
      };
    }
  }
  const client = createClient({ ...connection, timeoutMs });
  try {
    const state = await client.getState();
    const infos = await client.getAllProcessInfo();
    return { kind: "ok", url, state: state.name, infos };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof SupervisorUnavailableError) {
      return { kind: "unreachable", url, message, fix: "start supervisord, or check -s / -c" };
    }
    if (error instanceof SupervisorAuthError) {
      return {
        kind: "refused",
        url,
        message,
        fix: "set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD (or --password-file) to the " +
          "username= and password= of the server section",
      };
    }
    if (error instanceof UsageError) {
      return {
        kind: "unusable",
        url,
        message,
        fix: "run releasemon with the permissions its message names, or rebuild the binary " +
          "with deno task compile --socket PATH",
      };
    }
    return {
      kind: "refused",
      url,
      message,
      fix: "check that the URL is supervisord's and that its supervisord.conf has an " +
        "[rpcinterface:supervisor] section",
    };
  }
}

// Looks the program up the way sh would run it, without running it: `test -x` for a path,
// `command -v` (a builtin, or the file in PATH) for a name.
const LOOKUP_SCRIPT = `w=$1
case $w in
*/*) if [ -d "$w" ]; then echo directory; elif [ -x "$w" ]; then echo executable;
     elif [ -e "$w" ]; then echo not-executable; else echo missing; fi;;
*) if p=$(command -v -- "$w"); then
     case $p in /*) echo "executable $p";; *) echo builtin;; esac
   else echo missing; fi;;
esac`;

async function probeHooks(config: Config): Promise<HookFacts[]> {
  const hooks: HookFacts[] = [];
  for (
    const [hook, command] of [["pre", config.preRestart], ["post", config.postRestart]] as const
  ) {
    if (command === null) continue;
    const program = hookProgram(command);
    if (program.kind === "unknown") {
      hooks.push({ hook, command, program, found: "unchecked", resolved: null });
      continue;
    }
    const output = await new Deno.Command("sh", {
      args: ["-c", LOOKUP_SCRIPT, "sh", program.word],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const [word = "missing", ...rest] = new TextDecoder().decode(output.stdout).trim().split(" ");
    const found = (["executable", "builtin", "not-executable", "directory"] as const)
      .find((kind) => kind === word) ?? "missing";
    const resolved = rest.length > 0
      ? rest.join(" ")
      : program.kind === "path"
      ? program.word
      : null;
    hooks.push({ hook, command, program, found, resolved });
  }
  return hooks;
}

async function probeFleet(config: Config): Promise<FleetFacts> {
  // Loaded only here: without --fleet, the Redis client is never loaded.
  const { createFleet } = await import("../fleet/setup.ts");
  const fleet = createFleet(config);
  try {
    await fleet.connect();
    return { kind: "ok", url: fleet.url };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const refused = error instanceof FleetUnavailableError && error.authRefused;
    return { kind: refused ? "refused" : "unreachable", url: fleet.url, message };
  } finally {
    await fleet.close();
  }
}
