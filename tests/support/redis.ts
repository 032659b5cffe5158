/**
 * Starts a real redis-server (Debian's `redis-server`) for a test and always tears it down:
 * `await using redis = await startRedis()`.
 *
 * No persistence (`--save "" --appendonly no`), so {@linkcode RedisServer.restart} is a restart that
 * loses every key, like a cache server rebooting mid-rollout. Readiness is "PING answers" under a
 * deadline; teardown sends SIGTERM, awaits exit (SIGKILL after a deadline) and removes the temp dir.
 * With `tls: true` it makes a throwaway CA and server certificate with openssl and listens with
 * TLS only; `caPem` is what a client must trust.
 *
 * @module
 */
import { terminate } from "./child.ts";

export interface RedisServerOptions {
  /** `--requirepass`. */
  password?: string;
  /** Listen with TLS only (`rediss://`). */
  tls?: boolean;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

export class RedisServer implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  readonly password: string | null;
  readonly tls: boolean;
  /** The CA certificate (PEM) that signed the server's certificate, when `tls`. */
  caPem: string | null = null;
  #child: Deno.ChildProcess | null = null;

  constructor(dir: string, port: number, options: RedisServerOptions) {
    this.dir = dir;
    this.port = port;
    this.password = options.password ?? null;
    this.tls = options.tls ?? false;
  }

  /** `redis://127.0.0.1:<port>/0` (or `rediss://…`). */
  get url(): string {
    return `${this.tls ? "rediss" : "redis"}://127.0.0.1:${this.port}/0`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const args = [
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      this.dir,
      "--logfile",
      `${this.dir}/redis.log`,
    ];
    if (this.tls) {
      args.push("--port", "0", "--tls-port", String(this.port));
      args.push(
        "--tls-cert-file",
        `${this.dir}/server.crt`,
        "--tls-key-file",
        `${this.dir}/server.key`,
      );
      args.push("--tls-ca-cert-file", `${this.dir}/ca.crt`, "--tls-auth-clients", "no");
    } else {
      args.push("--port", String(this.port));
    }
    if (this.password !== null) args.push("--requirepass", this.password);
    this.#child = new Deno.Command("redis-server", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      try {
        if (await this.#ping()) return;
      } catch (error) {
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.stop();
    throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s`, {
      cause: lastError,
    });
  }

  /** SIGTERM (no persistence: every key is gone), await exit; SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    await terminate(child, STOP_TIMEOUT_MS);
  }

  /** Stops and starts again on the same port: a Redis restart that lost all data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs one command with redis-cli and returns its raw output (for checks on keys). */
  async cli(...command: string[]): Promise<string> {
    const args = ["-h", "127.0.0.1", "-p", String(this.port)];
    if (this.tls) args.push("--tls", "--cacert", `${this.dir}/ca.crt`);
    const env: Record<string, string> = this.password === null
      ? {}
      : { REDISCLI_AUTH: this.password };
    const output = await new Deno.Command("redis-cli", {
      args: [...args, ...command],
      env,
      stdin: "null",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(output.stdout).trim();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }

  /** True when the server answers (PONG, or NOAUTH when a password is required). */
  async #ping(): Promise<boolean> {
    const conn = this.tls
      ? await Deno.connectTls({
        hostname: "127.0.0.1",
        port: this.port,
        caCerts: [this.caPem ?? ""],
      })
      : await Deno.connect({ hostname: "127.0.0.1", port: this.port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      const answer = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
      return answer.startsWith("+PONG") || answer.startsWith("-NOAUTH");
    } finally {
      conn.close();
    }
  }
}

/** A TCP port on 127.0.0.1 nobody listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts redis-server on a free port in a temp dir and waits until it answers PING. */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "rm-redis-" });
  const server = new RedisServer(dir, freePort(), options);
  try {
    if (server.tls) server.caPem = await _makeCertificates(dir);
    await server.start();
    return server;
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/** A throwaway CA and a server certificate for 127.0.0.1 / localhost; returns the CA PEM. */
async function _makeCertificates(dir: string): Promise<string> {
  const run = async (...args: string[]) => {
    const output = await new Deno.Command("openssl", { args, cwd: dir, stdin: "null" }).output();
    if (!output.success) {
      throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
    }
  };
  await run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=rm-test-ca",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  );
  await run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  );
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
    "-out",
    "server.crt",
  );
  return await Deno.readTextFile(`${dir}/ca.crt`);
}

/**
 * A TCP proxy on 127.0.0.1 in front of a server that a test can freeze: {@linkcode pause} stops
 * forwarding bytes both ways without closing anything (a network partition as the client sees
 * it: commands time out, new connections open but never answer); {@linkcode resume} delivers
 * what was held back and forwards again. `await using proxy = startProxy(redis.port)`.
 */
export class PausableProxy implements AsyncDisposable {
  readonly port: number;
  readonly #targetPort: number;
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #paused: PromiseWithResolvers<void> | null = null;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.#accepting = this.#accept();
  }

  /** `redis://127.0.0.1:<proxy port>/0`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  pause(): void {
    this.#paused ??= Promise.withResolvers();
  }

  resume(): void {
    this.#paused?.resolve();
    this.#paused = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.resume();
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#conns) _close(conn);
    await Promise.allSettled([...this.#tasks]);
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        this.#conns.add(client);
        let upstream: Deno.Conn;
        try {
          upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#targetPort });
        } catch {
          this.#conns.delete(client);
          _close(client);
          continue;
        }
        this.#conns.add(upstream);
        for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
          const task = this.#pump(from, to);
          this.#tasks.add(task);
          task.finally(() => this.#tasks.delete(task));
        }
      }
    } catch {
      // The listener was closed.
    }
  }

  /** Copies `from` to `to`, holding each chunk while paused; closes both at the end. */
  async #pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        while (this.#paused !== null) await this.#paused.promise;
        for (let done = 0; done < n;) done += await to.write(buffer.subarray(done, n));
      }
    } catch {
      // Either side closed.
    } finally {
      for (const conn of [from, to]) {
        this.#conns.delete(conn);
        _close(conn);
      }
    }
  }
}

function _close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
