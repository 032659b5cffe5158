// rollOut() against a real supervisord: a dry run of --update-config changes nothing, and a proxy
// that answers 502 in the middle of a restart leaves no program down.
import assert from "node:assert/strict";
import { rollOut, type RolloutOptions } from "../../lib/rollout.ts";
import { createClient } from "../../lib/supervisor/client.ts";
import { startSupervisord, startWithPendingConfChange, waitFor } from "../support/supervisord.ts";

const options = (overrides: Partial<RolloutOptions>): RolloutOptions => ({
  selection: { programs: [], groups: [], any: true, runningOnly: false },
  self: { pid: -1, processName: null, groupName: null },
  batchSize: null,
  startTimeoutMs: 20_000,
  dryRun: false,
  versionLabel: '"v2"',
  signal: new AbortController().signal,
  ...overrides,
});

Deno.test("rollOut() --dry-run --update-config leaves supervisord's configuration unread", async () => {
  await using sv = await startWithPendingConfChange();
  const client = sv.client();
  const before = await client.getProcessInfo("app:app");

  const report = await rollOut(client, options({ dryRun: true, updateConfig: true }));

  assert.deepEqual(report.restarted, []);
  // getAllConfigInfo shows the configuration as last read: reloadConfig was not called.
  const configured = await client.call("supervisor.getAllConfigInfo") as Record<string, unknown>[];
  assert.deepEqual(configured.map((c) => [c.name, c.command]), [["app", "sleep 3600"]]);
  assert.doesNotMatch(await sv.ctl("avail"), /newbie/);
  assert.equal((await client.getProcessInfo("app:app")).pid, before.pid);
  // The change is still pending for the real run (or the operator's `supervisorctl update`).
  assert.deepEqual(await client.reloadConfig(), {
    added: ["newbie"],
    changed: ["app"],
    removed: [],
  });
});

/**
 * A TCP proxy in front of supervisord's [inet_http_server]. Once it has forwarded a
 * `supervisor.stopProcess` call, it answers the next `failures` requests with 502 Bad Gateway
 * itself, as a load balancer in front of a busy backend does.
 */
class BadGatewayProxy implements AsyncDisposable {
  readonly url: string;
  answered502 = 0;
  #remaining = 0;
  readonly #listener: Deno.TcpListener;
  readonly #tasks = new Set<Promise<void>>();
  readonly #conns = new Set<Deno.Conn>();
  readonly #accepting: Promise<void>;

  constructor(readonly backendPort: number, readonly failures: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.url = `http://127.0.0.1:${this.#listener.addr.port}`;
    this.#accepting = this.#accept();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        const task = this.#serve(conn).finally(() => {
          this.#conns.delete(conn);
          this.#tasks.delete(task);
          quietly(() => conn.close());
        });
        this.#tasks.add(task);
      }
    } catch {
      // Listener closed.
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    const request = await readRequest(client);
    if (this.#remaining > 0) {
      this.#remaining--;
      this.answered502++;
      const body = "Bad Gateway";
      await writeAll(
        client,
        new TextEncoder().encode(
          `HTTP/1.1 502 Bad Gateway\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        ),
      );
      return;
    }
    if (new TextDecoder().decode(request).includes("<methodName>supervisor.stopProcess<")) {
      this.#remaining = this.failures;
    }
    const backend = await Deno.connect({ hostname: "127.0.0.1", port: this.backendPort });
    this.#conns.add(backend);
    try {
      await writeAll(backend, request);
      // The client asks for Connection: close, so supervisord closes after its answer.
      await backend.readable.pipeTo(client.writable, { preventClose: true }).catch(() => {});
    } finally {
      this.#conns.delete(backend);
      quietly(() => backend.close());
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    quietly(() => this.#listener.close());
    await this.#accepting;
    for (const conn of this.#conns) quietly(() => conn.close());
    await Promise.allSettled([...this.#tasks]);
  }
}

function quietly(action: () => void): void {
  try {
    action();
  } catch {
    // Already closed.
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads one request: the head, then Content-Length bytes of body. */
async function readRequest(conn: Deno.Conn): Promise<Uint8Array> {
  let bytes = new Uint8Array(0);
  const chunk = new Uint8Array(16 * 1024);
  for (;;) {
    const text = new TextDecoder().decode(bytes);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const length = Number(/content-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (bytes.length >= end + 4 + length) return bytes;
    }
    const n = await conn.read(chunk);
    if (n === null) throw new Error("client closed before a whole request");
    const next = new Uint8Array(bytes.length + n);
    next.set(bytes);
    next.set(chunk.subarray(0, n), bytes.length);
    bytes = next;
  }
}

Deno.test("rollOut() starts what it stopped when a proxy answers 502 mid-restart", async () => {
  await using sv = await startSupervisord({
    inet: true,
    programs: [{ name: "app", command: "sleep 3600" }],
  });
  const direct = sv.client();
  const before = await waitFor("app RUNNING", async () => {
    const info = await direct.getProcessInfo("app:app");
    return info.state === "RUNNING" ? info : undefined;
  });
  // 502 for the start and the next polls, then the proxy forwards again.
  await using proxy = new BadGatewayProxy(sv.inetPort!, 6);
  const client = createClient({ serverUrl: proxy.url, timeoutMs: 10_000 });

  const report = await rollOut(client, options({}));

  assert.equal(proxy.answered502, 6);
  assert.deepEqual(report.failed, []);
  assert.deepEqual(report.restarted, ["app:app"]);
  const after = await direct.getProcessInfo("app:app");
  assert.equal(after.state, "RUNNING");
  assert.notEqual(after.pid, before.pid);
});
