import assert from "node:assert/strict";
import { HttpProtocolError, SupervisorUnavailableError } from "../../lib/errors.ts";
import {
  type ByteSource,
  type HttpResponseLimits,
  HttpResponseReader,
} from "../../lib/supervisor/_http_response.ts";

const URL = "unix:///run/supervisor.sock";
const LIMITS: HttpResponseLimits = { maxHeaderBytes: 1024, maxBodyBytes: 4096 };
const READ_PREFIX = `Cannot read the response from supervisord at "${URL}": `;
const MALFORMED_HINT = "; is this URL really supervisord's XML-RPC server?";
const CLOSED_HINT = "; supervisord may be restarting";

/** Serves `data` in reads of at most `readBytes`, counting what it handed out. */
class ScriptedSource implements ByteSource {
  readonly #data: Uint8Array;
  readonly #readBytes: number;
  delivered = 0;
  constructor(data: string | Uint8Array, readBytes = Infinity) {
    this.#data = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#readBytes = readBytes;
  }
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.delivered >= this.#data.length) return Promise.resolve(null);
    const count = Math.min(buffer.length, this.#readBytes, this.#data.length - this.delivered);
    buffer.set(this.#data.subarray(this.delivered, this.delivered + count));
    this.delivered += count;
    return Promise.resolve(count);
  }
}

/** Sends `head`, then `pattern` over and over, forever. */
class EndlessSource implements ByteSource {
  readonly #head: ScriptedSource;
  readonly #pattern: Uint8Array;
  #offset = 0;
  delivered = 0;
  constructor(head: string, pattern = "a") {
    this.#head = new ScriptedSource(head);
    this.#pattern = new TextEncoder().encode(pattern);
  }
  async read(buffer: Uint8Array): Promise<number | null> {
    let count = await this.#head.read(buffer);
    if (count === null) {
      for (let i = 0; i < buffer.length; i++) {
        buffer[i] = this.#pattern[(this.#offset + i) % this.#pattern.length] ?? 0;
      }
      this.#offset = (this.#offset + buffer.length) % this.#pattern.length;
      count = buffer.length;
    }
    this.delivered += count;
    return count;
  }
}

async function readResponse(source: ByteSource, limits = LIMITS) {
  const reader = new HttpResponseReader(source, URL, limits);
  const head = await reader.readHead();
  return { head, body: await reader.readBody(head) };
}

async function rejection(promise: Promise<unknown>, what = ""): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  return assert.fail(`expected a rejection ${JSON.stringify(what)}`);
}

async function assertMalformed(response: string, detail: string, limits = LIMITS) {
  const error = await rejection(readResponse(new ScriptedSource(response), limits), response);
  assert.ok(error instanceof HttpProtocolError, String(error));
  assert.equal(error.status, 0);
  assert.equal(error.url, URL);
  assert.equal(error.message, READ_PREFIX + detail + MALFORMED_HINT);
}

async function assertClosed(response: string, found: string) {
  const error = await rejection(readResponse(new ScriptedSource(response, 1)));
  assert.ok(error instanceof SupervisorUnavailableError, String(error));
  assert.equal(error.reason, "closed-mid-response");
  assert.equal(error.message, READ_PREFIX + found + CLOSED_HINT);
}

const XML = "<?xml version='1.0'?><methodResponse><params><param><value><string>é✓</string>" +
  "</value></param></params></methodResponse>";
const XML_BYTES = new TextEncoder().encode(XML).length;
const CHUNKED = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
  "5;name=value\r\n<?xml\r\n" +
  `${(XML_BYTES - 5).toString(16).toUpperCase()}\r\n${XML.slice(5)}\r\n` +
  "0\r\nX-Trailer: yes\r\n\r\n";

Deno.test("HttpResponseReader reads a body framed by Content-Length", async () => {
  const response = `HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: ${XML_BYTES}\r\n` +
    `\r\n${XML}`;
  for (const readBytes of [Infinity, 7, 1]) {
    const { head, body } = await readResponse(new ScriptedSource(response, readBytes));
    assert.equal(head.status, 200);
    assert.equal(head.version, "1.1");
    assert.equal(head.statusLine, "HTTP/1.1 200 OK");
    assert.equal(head.headers.get("content-type"), "text/xml");
    assert.equal(body, XML, `reads of ${readBytes} bytes`);
  }
});

Deno.test("HttpResponseReader reads a chunked body with extensions and trailers", async () => {
  for (const readBytes of [Infinity, 3, 1]) {
    const { body } = await readResponse(new ScriptedSource(CHUNKED, readBytes));
    assert.equal(body, XML, `reads of ${readBytes} bytes`);
  }
});

Deno.test("HttpResponseReader splits a UTF-8 character across chunks", async () => {
  // "é" is C3 A9: the first chunk ends between the two bytes.
  const response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "2\r\na\xc3\r\n2\r\n\xa9b\r\n0\r\n\r\n";
  const bytes = Uint8Array.from(response, (c) => c.charCodeAt(0));
  assert.equal((await readResponse(new ScriptedSource(bytes, 1))).body, "aéb");
});

Deno.test("HttpResponseReader reads until close when there is no length", async () => {
  for (const readBytes of [Infinity, 1]) {
    const response = `HTTP/1.0 200 OK\r\nServer: Medusa/1.12\r\n\r\n${XML}`;
    const { head, body } = await readResponse(new ScriptedSource(response, readBytes));
    assert.equal(head.version, "1.0");
    assert.equal(body, XML);
  }
});

Deno.test("HttpResponseReader treats header names case-insensitively and joins repeats", async () => {
  const response = "HTTP/1.1 200 OK\nCONTENT-length: 2\nVia: a\nvia: b\n\nokIGNORED";
  const { head, body } = await readResponse(new ScriptedSource(response));
  assert.equal(head.headers.get("via"), "a, b");
  assert.equal(body, "ok");
});

Deno.test("HttpResponseReader skips interim 1xx responses", async () => {
  const response = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const { head, body } = await readResponse(new ScriptedSource(response, 1));
  assert.equal(head.status, 200);
  assert.equal(body, "ok");
});

Deno.test("HttpResponseReader returns the head of a non-200 response", async () => {
  const reader = new HttpResponseReader(
    new ScriptedSource("HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\n\r\nUnauthorized"),
    URL,
    LIMITS,
  );
  const head = await reader.readHead();
  assert.equal(head.status, 401);
  assert.equal(head.statusLine, "HTTP/1.1 401 Unauthorized");
});

Deno.test("HttpResponseReader accepts a body of exactly maxBodyBytes", async () => {
  const body = "x".repeat(LIMITS.maxBodyBytes);
  const response = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  assert.equal((await readResponse(new ScriptedSource(response))).body, body);
});

Deno.test("HttpResponseReader stops at maxHeaderBytes", async () => {
  const detail = "the header section is larger than 1024 bytes (maxHeaderBytes)";
  const source = new EndlessSource(`HTTP/1.1 200 OK\r\nX-Big: `);
  const error = await rejection(readResponse(source));
  assert.ok(error instanceof HttpProtocolError);
  assert.equal(error.message, READ_PREFIX + detail + MALFORMED_HINT);
  assert.ok(source.delivered <= LIMITS.maxHeaderBytes, `read ${source.delivered} bytes`);
  const manyHeaders = "HTTP/1.1 200 OK\r\n" + "X-A: 1234567890\r\n".repeat(100) + "\r\n";
  await assertMalformed(manyHeaders, detail);
});

Deno.test("HttpResponseReader refuses a Content-Length over maxBodyBytes without reading", async () => {
  const source = new EndlessSource("HTTP/1.1 200 OK\r\nContent-Length: 4097\r\n\r\n");
  const error = await rejection(readResponse(source));
  assert.ok(error instanceof HttpProtocolError);
  assert.equal(
    error.message,
    READ_PREFIX + "the body is larger than 4096 bytes (maxResponseBytes)" + MALFORMED_HINT,
  );
  assert.ok(source.delivered < 1024, `read ${source.delivered} bytes`);
});

Deno.test("HttpResponseReader stops reading an endless body at maxBodyBytes", async () => {
  const limits = { maxHeaderBytes: 1024, maxBodyBytes: 100_000 };
  const sources: [string, string][] = [
    ["HTTP/1.1 200 OK\r\n\r\n", "a"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", `1000\r\n${"a".repeat(4096)}\r\n`],
  ];
  for (const [head, pattern] of sources) {
    const source = new EndlessSource(head, pattern);
    const error = await rejection(readResponse(source, limits));
    assert.ok(error instanceof HttpProtocolError, String(error));
    assert.match(error.message, /the body is larger than 100000 bytes \(maxResponseBytes\)/);
    assert.ok(source.delivered < 100_000 + 20_000, `read ${source.delivered} bytes`);
  }
});

Deno.test("HttpResponseReader rejects a chunk size past maxBodyBytes before reading it", async () => {
  const source = new EndlessSource(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n",
  );
  const error = await rejection(readResponse(source));
  assert.ok(error instanceof HttpProtocolError);
  assert.ok(source.delivered < 1024, `read ${source.delivered} bytes`);
});

Deno.test("HttpResponseReader rejects malformed HTTP with HttpProtocolError(0)", async () => {
  const ok = "HTTP/1.1 200 OK\r\n";
  const cases: [string, string][] = [
    ["SSH-2.0-OpenSSH_9.6\r\n\r\n", 'expected an HTTP/1.x status line, got "SSH-2.0-OpenSSH_9.6"'],
    ["HTTP/2 200\r\n\r\n", 'expected an HTTP/1.x status line, got "HTTP/2 200"'],
    ["HTTP/1.1 20 OK\r\n\r\n", 'expected an HTTP/1.x status line, got "HTTP/1.1 20 OK"'],
    [`${ok}Bad Header: x\r\n\r\n`, 'invalid header line "Bad Header: x"'],
    [`${ok}X-A: 1\r\n folded\r\n\r\n`, 'invalid header line " folded"'],
    [`${ok}Content-Length: -1\r\n\r\n`, 'invalid Content-Length "-1"'],
    [`${ok}Content-Length: 2\r\nContent-Length: 3\r\n\r\nok`, 'invalid Content-Length "2, 3"'],
    [
      `${ok}Transfer-Encoding: gzip, chunked\r\n\r\n`,
      'unsupported Transfer-Encoding "gzip, chunked"',
    ],
    [`${ok}Content-Encoding: gzip\r\n\r\n`, 'unsupported Content-Encoding "gzip"'],
    [`${ok}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, 'invalid chunk size line "zz"'],
    [
      `${ok}Transfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n`,
      "chunk data is longer than its size line says",
    ],
  ];
  for (const [response, detail] of cases) {
    await assertMalformed(response, detail);
  }
  const longChunkLine = `${ok}Transfer-Encoding: chunked\r\n\r\n1;${"x".repeat(5000)}\r\n`;
  await assertMalformed(longChunkLine, "a chunk size line is longer than 4096 bytes");
});

Deno.test("HttpResponseReader rejects invalid UTF-8 in a body", async () => {
  const bytes = new Uint8Array([...new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\nok"), 0xc3]);
  const error = await rejection(readResponse(new ScriptedSource(bytes)));
  assert.ok(error instanceof HttpProtocolError);
  assert.equal(error.message, READ_PREFIX + "the body is not valid UTF-8" + MALFORMED_HINT);
  assert.ok(error.cause instanceof TypeError);
});

Deno.test("HttpResponseReader reports a connection closed mid-response", async () => {
  await assertClosed("", "the connection closed before any response arrived");
  await assertClosed(
    "HTTP/1.1 200 OK\r\nContent-",
    "the connection closed in the middle of the headers",
  );
  await assertClosed("HTTP/1.1 200", "the connection closed in the middle of the status line");
  await assertClosed(
    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "the connection closed after 3 of 10 bytes of the body",
  );
  await assertClosed(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    "the connection closed after 2 of 5 bytes of a chunk",
  );
  await assertClosed(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
    "the connection closed in the middle of a chunk size line",
  );
});
