/**
 * releasemon: restart supervisord programs when a version file changes.
 *
 * Run it as a supervisord program:
 *
 *     [program:releasemon]
 *     command=/usr/local/bin/releasemon --fixed-delay 10 -g workers /app/.version
 *
 * This is the shell: it parses the command line, sets up logging, wires the real client and
 * watcher into `run()`, and maps errors to exit codes. The only `Deno.exit` is here.
 *
 * @module
 */
import { getLogger } from "./lib/logger.ts";
import { parseConfig } from "./lib/config.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from "./lib/errors.ts";
import { redact, setupLogging } from "./lib/log.ts";
import { opsCommand } from "./lib/ops/command.ts";
import { run } from "./lib/run.ts";
import type { Config } from "./lib/config.ts";
import { createClient } from "./lib/supervisor/client.ts";
import { readConfConnection } from "./lib/supervisor/conf_file.ts";
import { VersionWatcher } from "./lib/watch/watcher.ts";

/** Environment variables releasemon reads (the compiled binary may read only these). */
export const ENV_NAMES = [
  "SUPERVISOR_SERVER_URL",
  "SUPERVISOR_USERNAME",
  "SUPERVISOR_PASSWORD",
  "SUPERVISOR_PROCESS_NAME",
  "SUPERVISOR_GROUP_NAME",
  "NO_COLOR",
  "RELEASEMON_FLEET_URL",
  "RELEASEMON_FLEET_PASSWORD",
] as const;

const encoder = new TextEncoder();
/** How main() reports an error: the secrets to redact, and whether JSON logging is configured. */
const reporting = { secrets: [] as string[], json: false };

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

function readEnvironment(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of ENV_NAMES) env[name] = Deno.env.get(name);
  return env;
}

async function readPasswordFile(path: string): Promise<string> {
  try {
    // One line, like a Docker secret or a systemd credential; the trailing newline is not part of it.
    return (await Deno.readTextFile(path)).replace(/\r?\n$/, "");
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new UsageError(`Cannot read password file "${path}": ${why}`);
  }
}

/**
 * PATH naming a directory is a usage error: watching it would wait forever for a file that can
 * never appear. (`--check` reports it with its fix instead.)
 */
async function rejectDirectoryPath(path: string, usage: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => null);
  if (info?.isDirectory) {
    throw new UsageError(
      `argument PATH: "${path}" is a directory; give the version file inside it, e.g. ` +
        `"${path.replace(/\/$/, "")}/VERSION"`,
      { usage },
    );
  }
}

/** The supervisord URL and credentials: flags, then `-c FILE`, then the environment. */
async function connectionSettings(config: Config) {
  const filePassword = config.passwordFile ? await readPasswordFile(config.passwordFile) : null;
  if (!config.configurationFile) {
    return {
      serverUrl: config.serverUrl,
      username: config.username,
      password: filePassword ?? config.password,
      source: null,
    };
  }
  const conf = await readConfConnection(config.configurationFile);
  return {
    serverUrl: config.serverUrlExplicit ? config.serverUrl : conf.serverUrl,
    username: config.usernameExplicit ? config.username : conf.username ?? config.username,
    password: filePassword ?? conf.password ?? config.password,
    source: conf.source,
  };
}

export async function main(argv: string[]): Promise<number> {
  const env = readEnvironment();
  const color = Deno.stderr.isTerminal() && env.NO_COLOR === undefined;
  let secrets: string[] = env.SUPERVISOR_PASSWORD ? [env.SUPERVISOR_PASSWORD] : [];
  reporting.secrets = secrets;
  try {
    const parsed = parseConfig(argv, env, { color, cwd: Deno.cwd() });
    if (parsed.kind !== "run") {
      writeAll(Deno.stdout, parsed.text.endsWith("\n") ? parsed.text : `${parsed.text}\n`);
      return EXIT_OK;
    }
    const config = parsed.config;
    if (!config.fleetMode && !config.check && !config.status) {
      await rejectDirectoryPath(config.versionFile, parsed.usage);
    }
    if (config.fleet?.password) secrets = [...secrets, config.fleet.password];
    if (config.fleetMode) {
      setupLogging({ level: config.logLevel, format: "text", secrets });
      const { fleetCommand } = await import("./lib/fleet/setup.ts");
      writeAll(Deno.stdout, `${await fleetCommand(config, config.fleetMode)}\n`);
      return EXIT_OK;
    }
    const connection = await connectionSettings(config);
    if (connection.password) secrets = [...secrets, connection.password];
    setupLogging({ level: config.logLevel, format: config.logFormat, secrets });
    // From here on, a fatal error is a JSON line when JSON is asked for.
    reporting.secrets = secrets;
    reporting.json = config.logFormat === "json";
    if (config.check || config.status) {
      const self = {
        pid: Deno.pid,
        processName: config.selfProcessName,
        groupName: config.selfGroupName,
      };
      const result = await opsCommand(config.check ? "check" : "status", config, connection, self);
      writeAll(Deno.stdout, redact(`${result.text}\n`, secrets));
      return result.exitCode;
    }
    if (connection.source) {
      getLogger(["releasemon"]).info("supervisord connection settings from {source}", {
        source: connection.source,
      });
    }
    const client = createClient({ ...connection, timeoutMs: config.rpcTimeoutMs });
    // Loaded only with --fleet: the Redis client costs ~12 MB of memory.
    const fleet = config.fleet
      ? await (await import("./lib/fleet/setup.ts")).startFleet(config)
      : null;
    const watcher = new VersionWatcher(config.versionFile, {
      settleMs: config.settleMs,
      recheckMs: config.recheckMs,
      ...(config.pollMs === null ? {} : { pollMs: config.pollMs }),
    });
    const controller = new AbortController();
    const removeSignalHandlers = handleSignals(controller);
    try {
      await run(config, {
        client,
        watcher,
        fleet: fleet?.coordinator ?? null,
        self: {
          pid: Deno.pid,
          processName: config.selfProcessName,
          groupName: config.selfGroupName,
        },
      }, controller.signal);
    } finally {
      removeSignalHandlers();
      await fleet?.close();
    }
    return EXIT_OK;
  } catch (error) {
    const exitCode = error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
    if (reporting.json) {
      // The logger redacts; a usage line means nothing to a JSON reader.
      getLogger(["releasemon"]).fatal("{error}", {
        error: error instanceof Error ? error.message : String(error),
        exitCode,
      });
      return exitCode;
    }
    if (error instanceof UsageError) {
      const usage = error.usage ? `${error.usage.trimEnd()}\n` : "";
      writeAll(Deno.stderr, redact(`${usage}releasemon: error: ${error.message}\n`, secrets));
      return EXIT_USAGE;
    }
    const message = error instanceof Error ? error.message : String(error);
    writeAll(Deno.stderr, redact(`releasemon: error: ${message}\n`, secrets));
    return EXIT_FAILURE;
  }
}

/**
 * Signals that end releasemon: it stops watching, and a restart in flight first starts again
 * every program it stopped. supervisord sends TERM (or its `stopsignal`); a person sends INT.
 */
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT"] as const;

/**
 * Signals whose default action would kill releasemon on the spot, in the middle of a restart too,
 * although nobody asked it to stop: `supervisorctl signal HUP all` is how people make their
 * programs reopen log files. releasemon logs them and carries on (it holds no file to reopen).
 */
const IGNORED_SIGNALS = ["SIGHUP", "SIGUSR1", "SIGUSR2"] as const;

/** Installs the signal handlers; returns the function that removes them. */
function handleSignals(controller: AbortController): () => void {
  const log = getLogger(["releasemon"]);
  const listeners: [Deno.Signal, () => void][] = [];
  for (const name of STOP_SIGNALS) {
    listeners.push([name, () => {
      if (controller.signal.aborted) {
        log.warning("Second {signal}: exiting now", { signal: name });
        Deno.exit(EXIT_FAILURE);
      }
      log.info("{signal} received; stopping", { signal: name });
      controller.abort();
    }]);
  }
  for (const name of IGNORED_SIGNALS) {
    listeners.push([name, () => {
      log.info("{signal} received; ignored (releasemon stops only on TERM, INT or QUIT)", {
        signal: name,
      });
    }]);
  }
  for (const [name, listener] of listeners) Deno.addSignalListener(name, listener);
  return () => {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
  };
}

/**
 * An error nothing caught (a bug) ends releasemon with one plain line, or a JSON line through the
 * logger when configured: Deno's own report would colour it, even into supervisord's log file.
 */
function exitOnUncaught(event: Event & { reason?: unknown; error?: unknown }): void {
  event.preventDefault();
  const error = event.reason ?? event.error;
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (reporting.json) {
    getLogger(["releasemon"]).fatal("Uncaught error: {error}", { error: text });
  } else writeAll(Deno.stderr, redact(`releasemon: error: uncaught: ${text}\n`, reporting.secrets));
  Deno.exit(EXIT_FAILURE);
}

if (import.meta.main) {
  globalThis.addEventListener("unhandledrejection", exitOnUncaught);
  globalThis.addEventListener("error", exitOnUncaught);
  Deno.exit(await main(Deno.args));
}
