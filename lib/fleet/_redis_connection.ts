/**
 * One lazily (re)connected Redis connection for the fleet, on `@redis/client` (node-redis).
 *
 * The client's own reconnect loop is off: a broken connection is dropped, and the next call opens
 * a new one under a deadline. So an unreachable server never hangs a call, a restarted server is
 * picked up on the next call, and no background retry outlives {@linkcode RedisConnection.close}.
 * Every failure surfaces as {@linkcode FleetUnavailableError} whose message names the URL (never
 * with a password) and what to check. The password is given as a parameter only; it is scrubbed
 * from every message, just in case a server ever echoed it.
 *
 * @module
 */
import { ConnectionTimeoutError, createClient, ErrorReply } from "@redis/client";
import { getLogger } from "../logger.ts";
import { checkPositive } from "../check.ts";
import { formatDuration } from "../delay.ts";
import { FleetUnavailableError } from "./fleet.ts";
import type { FleetEndpoint } from "./fleet_url.ts";
import type { LuaScript } from "./scripts.ts";

const log = getLogger(["releasemon", "fleet"]);

type Client = ReturnType<typeof _createClient>;

/** SHA-1 of each script's source, computed once per process. */
const _shas = new WeakMap<LuaScript, string>();

export interface RedisConnectionOptions {
  /** Deadline for TCP/TLS connect plus AUTH and SELECT. @default 5_000 */
  connectTimeoutMs?: number;
  /** Deadline for one command's answer; past it the connection is dropped. @default 5_000 */
  commandTimeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for `rediss://`, e.g. a private CA. */
  tlsCaPem?: string;
}

/** A connection that reconnects on demand; see the module doc. */
export class RedisConnection {
  readonly endpoint: FleetEndpoint;
  readonly #password: string | null;
  readonly #connectTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #tlsCaPem: string | undefined;
  #client: Client | null = null;
  #connecting: Promise<Client> | null = null;
  #closed = false;

  constructor(
    endpoint: FleetEndpoint,
    password: string | null,
    options: RedisConnectionOptions = {},
  ) {
    this.endpoint = endpoint;
    this.#password = password === "" ? null : password;
    this.#connectTimeoutMs = checkPositive("connectTimeoutMs", options.connectTimeoutMs ?? 5_000);
    this.#commandTimeoutMs = checkPositive("commandTimeoutMs", options.commandTimeoutMs ?? 5_000);
    this.#tlsCaPem = options.tlsCaPem;
  }

  /** True while a connection is open and authenticated. */
  get ready(): boolean {
    return this.#client?.isReady ?? false;
  }

  /** Opens the connection now (otherwise the first call does). */
  async connect(): Promise<void> {
    await this.#get();
  }

  /** Runs `script` (EVALSHA, falling back to EVAL when the server lost its script cache). */
  async eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    const sha = _shas.get(script) ?? await _sha1(script.source);
    _shas.set(script, sha);
    return await this.#run(`run the ${script.name} script`, async (client) => {
      try {
        return await client.evalSha(sha, { keys, arguments: args });
      } catch (error) {
        if (!(error instanceof ErrorReply) || !error.message.startsWith("NOSCRIPT")) throw error;
        return await client.eval(script.source, { keys, arguments: args });
      }
    });
  }

  /**
   * Subscribes to `channel` on this (dedicated) connection: `onMessage` runs for each message.
   * The subscription lives as long as the connection; call again after {@linkcode ready} drops.
   */
  async subscribe(channel: string, onMessage: () => void): Promise<void> {
    await this.#run(`subscribe to "${channel}"`, (client) => client.subscribe(channel, onMessage));
  }

  /** Drops the connection; later calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting?.catch(() => {});
    this.#drop();
  }

  async #run<T>(action: string, call: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#get();
    try {
      return await this.#deadline(call(client), this.#commandTimeoutMs, () => this.#drop(client));
    } catch (error) {
      // A reply error leaves the connection usable; anything else may have broken it.
      if (!(error instanceof ErrorReply)) this.#drop(client);
      throw this.#unavailable(`Cannot ${action} on Redis at`, error);
    }
  }

  async #get(): Promise<Client> {
    if (this.#closed) {
      throw new FleetUnavailableError(
        `Cannot use Redis at ${JSON.stringify(this.endpoint.url)}: the connection was closed`,
      );
    }
    if (this.#client?.isReady) return this.#client;
    if (this.#client) this.#drop();
    this.#connecting ??= this.#open().finally(() => this.#connecting = null);
    return await this.#connecting;
  }

  async #open(): Promise<Client> {
    const client = _createClient(this.endpoint, this.#password, {
      connectTimeoutMs: this.#connectTimeoutMs,
      tlsCaPem: this.#tlsCaPem,
    });
    // Without a listener, an 'error' event would be thrown; failures reach callers as rejections.
    client.on("error", (error: unknown) => {
      log.debug("Redis connection error: {error}", { error: this.#scrub(String(error)) });
    });
    try {
      // PING proves the session usable: without a password, connect() alone succeeds on a server
      // that requires one, and the first real command would fail obscurely.
      const ready = client.connect().then(() => client.ping());
      await this.#deadline(ready, this.#connectTimeoutMs, () => _destroy(client));
    } catch (error) {
      _destroy(client);
      throw this.#unavailable("Cannot connect to Redis at", error);
    }
    if (this.#closed) {
      _destroy(client);
      throw new FleetUnavailableError(
        `Cannot use Redis at ${JSON.stringify(this.endpoint.url)}: the connection was closed`,
      );
    }
    this.#client = client;
    return client;
  }

  #drop(client: Client | null = this.#client): void {
    if (client === null) return;
    if (client === this.#client) this.#client = null;
    _destroy(client);
  }

  /** Races `promise` with a timer; on timeout runs `onTimeout` and rejects. */
  #deadline<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new _DeadlineError(ms));
      }, ms);
    });
    // The loser of the race must not become an unhandled rejection.
    promise.catch(() => {});
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #unavailable(prefix: string, error: unknown): FleetUnavailableError {
    const detail = this.#scrub(_describe(error, this.#password !== null));
    const message = error instanceof Error ? error.message : String(error);
    return new FleetUnavailableError(
      `${prefix} ${JSON.stringify(this.endpoint.url)}: ${detail}`,
      { cause: error, authRefused: /^(WRONGPASS|NOAUTH)|invalid password/.test(message) },
    );
  }

  #scrub(text: string): string {
    return this.#password === null ? text : text.replaceAll(this.#password, "***");
  }
}

class _DeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${formatDuration(ms)}`);
  }
}

/** What went wrong, for an operator: cause first, then what to check. */
function _describe(error: unknown, hasPassword: boolean): string {
  if (error instanceof _DeadlineError) return `${error.message}; is the server up and reachable?`;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (message.startsWith("WRONGPASS") || message.includes("invalid password")) {
    return "the password was refused (WRONGPASS); check RELEASEMON_FLEET_PASSWORD";
  }
  if (message.startsWith("NOAUTH") || message.includes("unauthenticated")) {
    return hasPassword
      ? `authentication failed (${message}); check RELEASEMON_FLEET_PASSWORD`
      : "the server requires a password (NOAUTH); set RELEASEMON_FLEET_PASSWORD";
  }
  if (message.includes("without any password configured")) {
    return "a password was given but the server has none (AUTH failed); unset RELEASEMON_FLEET_PASSWORD or set requirepass";
  }
  if (code === "ECONNREFUSED") return "connection refused (ECONNREFUSED); is redis-server running?";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `host not found (${code})`;
  if (error instanceof ConnectionTimeoutError) {
    return "connection timed out; is the server up and reachable?";
  }
  return message;
}

function _createClient(
  endpoint: FleetEndpoint,
  password: string | null,
  options: { connectTimeoutMs: number; tlsCaPem: string | undefined },
) {
  const { host, port, db, tls } = endpoint;
  const common = { host, port, connectTimeout: options.connectTimeoutMs, reconnectStrategy: false };
  const socket = tls
    ? {
      ...common,
      tls: true as const,
      // SNI takes names only (RFC 6066): no servername for an IP address.
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      ...(options.tlsCaPem === undefined ? {} : { ca: [options.tlsCaPem] }),
    }
    : common;
  return createClient({
    socket: { ...socket, reconnectStrategy: false as const },
    ...(password === null ? {} : { password }),
    database: db,
    disableOfflineQueue: true,
  });
}

function _destroy(client: Client): void {
  try {
    client.destroy();
  } catch {
    // Already closed: nothing to release.
  }
}

async function _sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
