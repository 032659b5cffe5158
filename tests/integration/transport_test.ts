/**
 * `HttpTransport` against small fake HTTP servers on real sockets (unix and TCP 127.0.0.1), plus
 * `classifyConnectError` on constructed `Deno.errors` for the errnos a test cannot provoke.
 *
 * Every fake server is closed, and its temp dir removed, in `finally` (`await using`).
 */
import assert from "node:assert/strict";
import { renderMessage } from "../../lib/log.ts";
import type { LogRecord } from "../../lib/logger.ts";
import { withLog } from "../support/log_capture.ts";
import {
  HttpProtocolError,
  SupervisorAuthError,
  SupervisorUnavailableError,
  UsageError,
  XmlRpcSyntaxError,
} from "../../lib/errors.ts";
import { SupervisorClient } from "../../lib/supervisor/client.ts";
import { decodeMethodResponse, MAX_RESPONSE_BYTES } from "../../lib/supervisor/xmlrpc.ts";
import { parseServerUrl, type ServerEndpoint } from "../../lib/supervisor/server_url.ts";
import { HttpTransport } from "../../lib/supervisor/transport.ts";
import { classifyConnectError } from "../../lib/supervisor/_connect_errors.ts";

const PASSWORD = "pässwörd✓";
const XML = "<?xml version='1.0'?><methodCall><methodName>supervisor.getState</methodName>" +
  "<params><param><value><string>é✓</string></value></param></params></methodCall>";
const encoder = new TextEncoder();

interface ReceivedRequest {
  /** Request line and header lines, without the blank line. */
  lines: string[];
  body: string;
}
type Handler = (conn: Deno.Conn, request: ReceivedRequest) => Promise<void>;

/** A one-handler HTTP server that records requests and cleans up everything on dispose. */
class FakeServer implements AsyncDisposable {
  readonly url: string;
  readonly requests: ReceivedRequest[] = [];
  readonly #listener: Deno.Listener;
  readonly #dir: string | null;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks: Promise<void>[] = [];
  readonly #accepting: Promise<void>;
  #disposed = false;

  private constructor(listener: Deno.Listener, url: string, dir: string | null, handler: Handler) {
    this.#listener = listener;
    this.url = url;
    this.#dir = dir;
    this.#accepting = this.#accept(handler);
  }

  static async unix(handler: Handler): Promise<FakeServer> {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "rm-" });
    const path = `${dir}/s.sock`;
    return new FakeServer(Deno.listen({ transport: "unix", path }), `unix://${path}`, dir, handler);
  }

  static tcp(handler: Handler): FakeServer {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new FakeServer(listener, `http://127.0.0.1:${listener.addr.port}`, null, handler);
  }

  transport(options: ConstructorParameters<typeof HttpTransport>[1] = {}): HttpTransport {
    return new HttpTransport(parseServerUrl(this.url), options);
  }

  async #accept(handler: Handler): Promise<void> {
    for await (const conn of this.#listener) {
      this.#conns.add(conn);
      this.#tasks.push(this.#serve(conn, handler));
    }
  }

  async #serve(conn: Deno.Conn, handler: Handler): Promise<void> {
    try {
      const request = await readRequest(conn);
      this.requests.push(request);
      await handler(conn, request);
    } catch {
      // The client went away; what it saw is what the tests assert.
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  /** Stops listening, closes open connections, waits for handlers, removes the temp dir. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    closeQuietly(this.#listener);
    await this.#accepting.catch(() => {});
    for (const conn of this.#conns) closeQuietly(conn);
    await Promise.all(this.#tasks);
    if (this.#dir !== null) await Deno.remove(this.#dir, { recursive: true });
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/** Reads a request head and its Content-Length body. */
async function readRequest(conn: Deno.Conn): Promise<ReceivedRequest> {
  let bytes = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  for (;;) {
    const text = new TextDecoder().decode(bytes);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const lines = text.slice(0, end).split("\r\n");
      const lengthLine = lines.find((line) => /^content-length:/i.test(line)) ?? ":0";
      const length = Number(lengthLine.slice(lengthLine.indexOf(":") + 1));
      const headBytes = encoder.encode(text.slice(0, end + 4)).length;
      if (bytes.length - headBytes >= length) {
        return { lines, body: new TextDecoder().decode(bytes.subarray(headBytes)) };
      }
    }
    const count = await conn.read(chunk);
    if (count === null) throw new Error("client closed before sending a whole request");
    const next = new Uint8Array(bytes.length + count);
    next.set(bytes);
    next.set(chunk.subarray(0, count), bytes.length);
    bytes = next;
  }
}

async function writeAll(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

const respond = (text: string): Handler => (conn) => writeAll(conn, text);

function okResponse(body: string): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${
    encoder.encode(body).length
  }\r\n\r\n${body}`;
}

/** A handler that never answers, and a promise that resolves when the client hangs up. */
function neverAnswer(): {
  handler: Handler;
  requestArrived: Promise<void>;
  clientClosed: Promise<void>;
} {
  const arrived = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const handler: Handler = async (conn) => {
    arrived.resolve(); // FakeServer calls the handler once the whole request is in
    const buffer = new Uint8Array(1024);
    while (await conn.read(buffer) !== null);
    closed.resolve();
  };
  return { handler, requestArrived: arrived.promise, clientClosed: closed.promise };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail("expected a rejection");
}

async function assertUnavailable(promise: Promise<unknown>, reason: string, message: string) {
  const error = await rejection(promise);
  assert.ok(error instanceof SupervisorUnavailableError, String(error));
  assert.equal(error.reason, reason);
  assert.equal(error.message, message);
}

/** `promise`, or a rejection after `ms`; the timer never outlives the call. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function renderRecord(record: LogRecord): string {
  return `${renderMessage(record)} ${JSON.stringify(record.properties)}`;
}

Deno.test("post() sends POST /RPC2 over a unix socket and returns the body", async () => {
  await using server = await FakeServer.unix(respond(okResponse("<ok>é</ok>")));
  const answer = await server.transport().post(XML);
  assert.equal(answer, "<ok>é</ok>");
  assert.deepEqual(server.requests, [{
    lines: [
      "POST /RPC2 HTTP/1.1",
      "Host: localhost",
      "Content-Type: text/xml",
      `Content-Length: ${encoder.encode(XML).length}`,
      "Connection: close",
    ],
    body: XML,
  }]);
  assert.equal(encoder.encode(XML).length, XML.length + 3);
});

Deno.test("post() sends the Host with the port over TCP and Basic auth when set", async () => {
  await using server = FakeServer.tcp(respond(okResponse("ok")));
  const transport = server.transport({ username: "admin", password: PASSWORD });
  assert.equal(await transport.post(""), "ok");
  const port = new URL(server.url).port;
  assert.deepEqual(server.requests[0]?.lines, [
    "POST /RPC2 HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    "Content-Type: text/xml",
    "Content-Length: 0",
    "Connection: close",
    "Authorization: Basic YWRtaW46cMOkc3N3w7ZyZOKckw==",
  ]);
});

Deno.test("post() reads a chunked body, even one byte per write", async () => {
  const response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "4;ext=1\r\n<ok>\r\n5\r\né✓\r\n0\r\nX-Trailer: t\r\n\r\n";
  const bytewise: Handler = async (conn) => {
    for (const byte of encoder.encode(response)) {
      await conn.write(Uint8Array.of(byte));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  };
  for (const handler of [respond(response), bytewise]) {
    await using server = await FakeServer.unix(handler);
    assert.equal(await server.transport().post(XML), "<ok>é✓");
  }
});

Deno.test("post() reads until close when the response has no length", async () => {
  await using server = FakeServer.tcp(respond(`HTTP/1.0 200 OK\r\n\r\n${XML}`));
  assert.equal(await server.transport().post(""), XML);
});

Deno.test("post() fails on headers over maxHeaderBytes", async () => {
  await using server = await FakeServer.unix(
    respond(`HTTP/1.1 200 OK\r\n${"X-Filler: 0123456789\r\n".repeat(200)}\r\n`),
  );
  const error = await rejection(server.transport({ maxHeaderBytes: 1024 }).post(XML));
  assert.ok(error instanceof HttpProtocolError, String(error));
  assert.equal(error.status, 0);
  assert.equal(
    error.message,
    `Cannot read the response from supervisord at "${server.url}": the header section is ` +
      "larger than 1024 bytes (maxHeaderBytes); is this URL really supervisord's XML-RPC server?",
  );
});

Deno.test("post() stops reading a body over maxResponseBytes from an endless server", async () => {
  for (const kind of ["unix", "tcp"] as const) {
    const writer = Promise.withResolvers<unknown>();
    const endless: Handler = async (conn) => {
      await writeAll(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n");
      const chunk = encoder.encode("x".repeat(64 * 1024));
      try {
        for (;;) await conn.write(chunk);
      } catch (error) {
        writer.resolve(error);
      }
    };
    await using server = kind === "unix" ? await FakeServer.unix(endless) : FakeServer.tcp(endless);
    const started = performance.now();
    const error = await rejection(server.transport({ maxResponseBytes: 256 * 1024 }).post(XML));
    assert.ok(error instanceof HttpProtocolError, String(error));
    assert.match(error.message, /the body is larger than 262144 bytes \(maxResponseBytes\)/);
    assert.ok(performance.now() - started < 5_000);
    // The server's own writes fail, before the server is closed: we closed the connection.
    const stopped = await within(writer.promise, 5_000);
    assert.ok(
      stopped instanceof Deno.errors.BrokenPipe || stopped instanceof Deno.errors.ConnectionReset,
      `${kind}: ${stopped}`,
    );
  }
});

Deno.test("post() rejects by default a body the decoder would refuse, before decoding it", async () => {
  // One byte over the decoder's document limit: a UTF-8 body of N bytes is at most N UTF-16 code
  // units, so everything the transport accepts fits the decoder, and nothing bigger is decoded.
  const size = MAX_RESPONSE_BYTES + 1;
  const body = encoder.encode("x".repeat(size));
  await using server = await FakeServer.unix(async (conn) => {
    await writeAll(conn, `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    await writeAll(conn, body);
  });
  const client = new SupervisorClient(server.transport());
  const error = await rejection(client.call("supervisor.getState"));
  assert.ok(error instanceof HttpProtocolError, String(error));
  assert.match(
    error.message,
    new RegExp(`the body is larger than ${MAX_RESPONSE_BYTES} bytes \\(maxResponseBytes\\)`),
  );
  assert.throws(
    () => decodeMethodResponse("x".repeat(size)),
    (e: unknown) => e instanceof XmlRpcSyntaxError && /more than the limit of/.test(e.message),
  );
});

Deno.test("post() throws SupervisorAuthError on 401, never showing the password", async () => {
  await withLog(async (records) => {
    await using server = FakeServer.tcp(
      respond("HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nUnauthorized"),
    );
    const transport = server.transport({ username: "admin", password: PASSWORD });
    const error = await rejection(transport.post(XML));
    assert.ok(error instanceof SupervisorAuthError, String(error));
    assert.equal(error.url, server.url);
    assert.equal(
      error.message,
      `Cannot log in to supervisord at "${server.url}": wrong username or password (HTTP 401); ` +
        "check SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD against the username= and " +
        "password= of its [unix_http_server] or [inet_http_server] section",
    );
    const lines = records.map(renderRecord);
    assert.ok(lines.some((line) => line.includes("wrong username or password")), String(lines));
    for (const text of [...lines, error.message, String(error.stack)]) {
      assert.ok(!text.includes(PASSWORD), text);
      assert.ok(!text.includes("YWRtaW46cMOkc3N3w7ZyZOKckw"), text);
    }
    assert.ok(records.every((record) => record.category.join(".") === "releasemon.transport"));
  });
});

Deno.test("post() throws HttpProtocolError with the status on other statuses", async () => {
  await using server = await FakeServer.unix(
    respond("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"),
  );
  const error = await rejection(server.transport().post(XML));
  assert.ok(error instanceof HttpProtocolError, String(error));
  assert.equal(error.status, 500);
  assert.equal(
    error.message,
    `Cannot call supervisord's XML-RPC interface at "${server.url}": the server answered ` +
      `"HTTP/1.1 500 Internal Server Error"; check that this URL is supervisord's and see its log`,
  );
});

Deno.test("post() reports a connection closed mid-body", async () => {
  await using server = await FakeServer.unix(
    respond("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"),
  );
  await assertUnavailable(
    server.transport().post(XML),
    "closed-mid-response",
    `Cannot read the response from supervisord at "${server.url}": the connection closed after ` +
      "3 of 100 bytes of the body; supervisord may be restarting",
  );
});

Deno.test("post() times out on a server that never answers, and closes the connection", async () => {
  for (const kind of ["unix", "tcp"] as const) {
    const { handler, clientClosed } = neverAnswer();
    await using server = kind === "unix" ? await FakeServer.unix(handler) : FakeServer.tcp(handler);
    const transport = server.transport({ timeoutMs: 60_000 });
    const started = performance.now();
    await assertUnavailable(
      transport.post(XML, { timeoutMs: 150 }),
      "timeout",
      `Cannot get an answer from supervisord at "${server.url}": no response within 150 ms; ` +
        "is supervisord overloaded or stuck?",
    );
    assert.ok(performance.now() - started < 3_000);
    assert.equal(server.requests.length, 1);
    await within(clientClosed, 2_000);
  }
});

Deno.test("post() rejects with the signal's reason when aborted", async () => {
  const { handler, requestArrived, clientClosed } = neverAnswer();
  await using server = await FakeServer.unix(handler);
  const controller = new AbortController();
  const reason = new Error("shutting down");
  const pending = server.transport().post(XML, { signal: controller.signal });
  await within(requestArrived, 10_000); // aborted mid-call, not before it
  controller.abort(reason);
  assert.equal(await rejection(pending), reason);
  await within(clientClosed, 2_000);
  const aborted = AbortSignal.abort(reason);
  assert.equal(await rejection(server.transport().post(XML, { signal: aborted })), reason);
});

Deno.test("post() reports a missing socket file", async () => {
  const endpoint = parseServerUrl("unix:///tmp/rm-no-such-dir/s.sock");
  await assertUnavailable(
    new HttpTransport(endpoint).post(XML),
    "socket-missing",
    'Cannot connect to supervisord at "unix:///tmp/rm-no-such-dir/s.sock": no such file; is ' +
      "supervisord running, and is this the file= of its [unix_http_server] section?",
  );
});

Deno.test("post() reports a stale socket file as refused", async () => {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "rm-" });
  try {
    // Deno removes a unix listener's file on close; a hard link keeps the dead socket around.
    const listener = Deno.listen({ transport: "unix", path: `${dir}/live.sock` });
    await Deno.link(`${dir}/live.sock`, `${dir}/stale.sock`);
    listener.close();
    const url = `unix://${dir}/stale.sock`;
    await assertUnavailable(
      new HttpTransport(parseServerUrl(url)).post(XML),
      "connection-refused",
      `Cannot connect to supervisord at "${url}": connection refused (the socket file exists ` +
        "but nothing listens on it); is supervisord running?",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("post() reports a TCP port nobody listens on as refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${listener.addr.port}`;
  listener.close();
  await assertUnavailable(
    new HttpTransport(parseServerUrl(url)).post(XML),
    "connection-refused",
    `Cannot connect to supervisord at "${url}": connection refused; is supervisord running, ` +
      "and is this the port= of its [inet_http_server] section?",
  );
});

Deno.test("post() reports a host name that does not resolve as unreachable", async () => {
  const error = await rejection(
    new HttpTransport(parseServerUrl("http://releasemon.invalid:9001")).post(XML),
  );
  assert.ok(error instanceof SupervisorUnavailableError, String(error));
  assert.equal(error.reason, "host-unreachable");
  assert.match(
    error.message,
    /^Cannot connect to supervisord at "http:\/\/releasemon\.invalid:9001": host unreachable \(/,
  );
});

Deno.test({
  name: "post() throws UsageError when Deno's permissions do not cover the socket",
  permissions: { read: true, write: true, net: ["127.0.0.1:1"] },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rm-x" });
    try {
      const socket = `${dir}/s.sock`;
      await Deno.writeTextFile(socket, ""); // it exists: only the permission is missing
      const error = await rejection(
        new HttpTransport(parseServerUrl(`unix://${socket}`)).post(XML),
      );
      assert.ok(error instanceof UsageError, String(error));
      assert.equal(
        error.message,
        `Cannot connect to supervisord at "unix://${socket}": releasemon lacks the Deno ` +
          `permission for "${socket}"; run it with --allow-read=${socket}, ` +
          `--allow-write=${socket} and --allow-net=unix:${socket} (Deno 2.9.6 ` +
          "needs all three for a unix socket); retrying cannot fix this",
      );
      assert.ok(error.cause instanceof Deno.errors.NotCapable);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "post() says no such socket, before the permission, for a socket path that does not exist",
  permissions: { read: true, write: true, net: ["127.0.0.1:1"] },
  async fn() {
    const error = await rejection(
      new HttpTransport(parseServerUrl("unix:///tmp/rm-x/s.sock")).post(XML),
    );
    assert.ok(error instanceof UsageError, String(error));
    assert.equal(
      error.message,
      'Cannot connect to supervisord at "unix:///tmp/rm-x/s.sock": no such socket ' +
        '"/tmp/rm-x/s.sock"; check the URL against the file= of supervisord\'s ' +
        "[unix_http_server] section; note that this releasemon may connect only to the sockets " +
        "it was built for (deno task compile --socket PATH, or deno task install --socket PATH; " +
        "with deno run: --allow-read=/tmp/rm-x/s.sock, --allow-write=/tmp/rm-x/s.sock and " +
        "--allow-net=unix:/tmp/rm-x/s.sock (Deno 2.9.6 needs all three for a unix socket))",
    );
  },
});

Deno.test("post() serves many concurrent calls, one connection each", async () => {
  const echo: Handler = (conn, request) => writeAll(conn, okResponse(`echo:${request.body}`));
  await using server = await FakeServer.unix(echo);
  const transport = server.transport();
  const bodies = Array.from({ length: 50 }, (_, i) => `<call n="${i}">${"é".repeat(i)}</call>`);
  const answers = await Promise.all(bodies.map((body) => transport.post(body)));
  assert.deepEqual(answers, bodies.map((body) => `echo:${body}`));
  assert.equal(server.requests.length, 50);
});

Deno.test("post() says when supervisord wants credentials and none are set", async () => {
  await using server = await FakeServer.unix(respond("HTTP/1.1 401 Unauthorized\r\n\r\n"));
  const error = await rejection(server.transport().post(XML));
  assert.ok(error instanceof SupervisorAuthError, String(error));
  assert.equal(
    error.message,
    `Cannot log in to supervisord at "${server.url}": it asks for a username and password ` +
      "(HTTP 401) and none is set; set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD to the " +
      "username= and password= of its [unix_http_server] or [inet_http_server] section",
  );
});

Deno.test("HttpTransport checks its options", () => {
  const endpoint = parseServerUrl("unix:///run/supervisor.sock");
  assert.equal(new HttpTransport(endpoint).url, "unix:///run/supervisor.sock");
  for (const option of ["timeoutMs", "maxResponseBytes", "maxHeaderBytes"]) {
    for (const value of [0, -1, Number.NaN, Infinity]) {
      assert.throws(() => new HttpTransport(endpoint, { [option]: value }), {
        name: "RangeError",
        message: `Cannot use ${option} "${value}": must be a positive number`,
      });
    }
  }
  assert.throws(() => new HttpTransport(endpoint, { username: "a:b", password: PASSWORD }), {
    name: "UsageError",
    message: 'Cannot use the supervisord username "a:b": it contains ":", which HTTP Basic auth ' +
      "cannot carry; check SUPERVISOR_USERNAME",
  });
});

// Pure: no sockets. These errnos cannot be provoked here (the tests run as root, so a socket's
// mode never denies access, and unreachable networks depend on the host), so the `Deno.errors`
// are constructed the way Deno raises them.
Deno.test("classifyConnectError() maps each errno to a reason and a message", () => {
  const unix = parseServerUrl("unix:///run/supervisor.sock");
  const tcp = parseServerUrl("http://supervisor.example:9001");
  const at = (endpoint: ServerEndpoint) => `supervisord at "${endpoint.url}"`;
  const unreachable = (detail: string) =>
    `Cannot connect to ${at(tcp)}: host unreachable (${JSON.stringify(detail)}); check the ` +
    "host name in the URL and the network";
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
  const cases: [Error, ServerEndpoint, string, string][] = [
    [
      new Deno.errors.NotFound("No such file"),
      unix,
      "socket-missing",
      `Cannot connect to ${
        at(unix)
      }: no such file; is supervisord running, and is this the file= of its [unix_http_server] section?`,
    ],
    [
      new Deno.errors.NotADirectory("Not a directory"),
      unix,
      "socket-missing",
      `Cannot connect to ${
        at(unix)
      }: no such file; is supervisord running, and is this the file= of its [unix_http_server] section?`,
    ],
    [
      new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
      unix,
      "permission-denied",
      `Cannot connect to ${at(unix)}: permission denied; check chmod= and chown= in its ` +
      "[unix_http_server] section against the user releasemon runs as",
    ],
    [
      new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
      tcp,
      "permission-denied",
      `Cannot connect to ${at(tcp)}: permission denied ("Permission denied (os error 13)"); ` +
      "check firewall rules",
    ],
    [
      new Deno.errors.WouldBlock("Resource temporarily unavailable (os error 11)"),
      unix,
      "connection-refused",
      `Cannot connect to ${at(unix)}: its listen queue is full ("Resource temporarily ` +
      'unavailable (os error 11)"); supervisord may be overloaded',
    ],
    [
      new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)"),
      unix,
      "connection-reset",
      `Cannot talk to ${at(unix)}: the connection was reset ("Connection reset by peer (os ` +
      'error 104)"); supervisord may be restarting',
    ],
    [
      new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
      tcp,
      "connection-reset",
      `Cannot talk to ${at(tcp)}: the connection was reset ("Broken pipe (os error 32)"); ` +
      "supervisord may be restarting",
    ],
    [
      new Deno.errors.UnexpectedEof("unexpected end of file"),
      unix,
      "closed-mid-response",
      `Cannot read the response from ${at(unix)}: the connection closed early ("unexpected ` +
      'end of file"); supervisord may be restarting',
    ],
    [
      new Deno.errors.TimedOut("Connection timed out (os error 110)"),
      tcp,
      "timeout",
      `Cannot connect to ${at(tcp)}: timed out ("Connection timed out (os error 110)"); check ` +
      "the host and the network",
    ],
    [
      new Deno.errors.NetworkUnreachable("Network is unreachable (os error 101)"),
      tcp,
      "host-unreachable",
      unreachable("Network is unreachable (os error 101)"),
    ],
    [
      withCode("No route to host (os error 113)", "EHOSTUNREACH"),
      tcp,
      "host-unreachable",
      unreachable("No route to host (os error 113)"),
    ],
    [
      new Error("failed to lookup address information: Name or service not known"),
      tcp,
      "host-unreachable",
      unreachable("failed to lookup address information: Name or service not known"),
    ],
  ];
  for (const [cause, endpoint, reason, message] of cases) {
    const error = classifyConnectError(cause, endpoint);
    assert.ok(error instanceof SupervisorUnavailableError, `${cause.name}: ${error}`);
    assert.equal(error.reason, reason);
    assert.equal(error.url, endpoint.url);
    assert.equal(error.message, message);
    assert.equal(error.cause, cause);
  }
});

Deno.test("classifyConnectError() turns a missing Deno permission into a UsageError", () => {
  const cause = new Deno.errors.NotCapable('Requires net access to "[::1]:9001"');
  const error = classifyConnectError(cause, parseServerUrl("http://[::1]:9001"));
  assert.ok(error instanceof UsageError);
  assert.equal(
    error.message,
    'Cannot connect to supervisord at "http://[::1]:9001": releasemon lacks the Deno ' +
      'permission for "[::1]:9001"; run it with --allow-net=[::1]:9001; retrying cannot fix this',
  );
});

Deno.test("classifyConnectError() passes other errors through", () => {
  const endpoint = parseServerUrl("unix:///run/supervisor.sock");
  const own = new HttpProtocolError(endpoint.url, 0, "bad");
  assert.equal(classifyConnectError(own, endpoint), own);
  const odd = new Deno.errors.InvalidData("odd");
  assert.equal(classifyConnectError(odd, endpoint), odd);
  assert.deepEqual(classifyConnectError("text", endpoint), new Error("text"));
});
