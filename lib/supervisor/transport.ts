/**
 * HTTP/1.1 `POST /RPC2` to supervisord over `Deno.connect`, on a unix socket or TCP, with Basic
 * auth, a whole-call timeout and a bounded response.
 *
 * One connection per call (`Connection: close`), so calls may run concurrently; the connection
 * is closed on every path. Errors say what was found and what to check, name the server URL in
 * its display form and never contain the password.
 *
 * @module
 */

import { getLogger } from "../logger.ts";
import { checkPositive } from "../check.ts";
import { formatDuration } from "../delay.ts";
import {
  HttpProtocolError,
  SupervisorAuthError,
  SupervisorUnavailableError,
  UsageError,
} from "../errors.ts";
import { classifyConnectError } from "./_connect_errors.ts";
import { type HttpResponseHead, HttpResponseReader } from "./_http_response.ts";
import type { ServerEndpoint } from "./server_url.ts";
import { MAX_RESPONSE_BYTES } from "./xmlrpc.ts";

/** How to talk to supervisord. */
export interface TransportOptions {
  /** Sent as HTTP Basic auth when set (`SUPERVISOR_USERNAME`). */
  username?: string | undefined;
  /** Goes with `username` (`SUPERVISOR_PASSWORD`); never logged or put in a message. */
  password?: string | undefined;
  /** Limit for a whole call: connect, send and receive. @default {10_000} */
  timeoutMs?: number;
  /** Largest response body accepted. @default {16 MiB, the decoder's MAX_RESPONSE_BYTES} */
  maxResponseBytes?: number;
  /** Largest status line plus headers accepted. @default {64 KiB} */
  maxHeaderBytes?: number;
}

/** Posts an XML-RPC request body to supervisord and returns the response body. */
export interface Transport {
  /** The server URL in display form, never with credentials. */
  readonly url: string;
  post(body: string, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** The decoder's own limit: an answer it would refuse is never read in full, nor decoded. */
const DEFAULT_MAX_RESPONSE_BYTES = MAX_RESPONSE_BYTES;
const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/** setTimeout fires at once for longer delays. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const HTTP_OK = 200;
const HTTP_UNAUTHORIZED = 401;
const AUTH_SECTIONS =
  "the username= and password= of its [unix_http_server] or [inet_http_server] section";

const logger = getLogger(["releasemon", "transport"]);

/** {@linkcode Transport} over a real socket. */
export class HttpTransport implements Transport {
  readonly url: string;
  readonly #endpoint: ServerEndpoint;
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #maxHeaderBytes: number;

  /**
   * @throws {RangeError} when a limit is not a positive number.
   * @throws {UsageError} when the username contains ":", which Basic auth cannot carry.
   */
  constructor(endpoint: ServerEndpoint, options: TransportOptions = {}) {
    this.#endpoint = endpoint;
    this.url = endpoint.url;
    this.#timeoutMs = checkPositive("timeoutMs", options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#maxResponseBytes = checkPositive(
      "maxResponseBytes",
      options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    );
    this.#maxHeaderBytes = checkPositive(
      "maxHeaderBytes",
      options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    );
    const { username, password } = options;
    if (username !== undefined && username.includes(":")) {
      throw new UsageError(
        `Cannot use the supervisord username ${JSON.stringify(username)}: it contains ":", ` +
          "which HTTP Basic auth cannot carry; check SUPERVISOR_USERNAME",
      );
    }
    this.#authorization = username === undefined
      ? undefined
      : `Basic ${_base64Utf8(`${username}:${password ?? ""}`)}`;
  }

  /**
   * Sends `body` as `POST /RPC2` and returns the response body.
   *
   * @throws {SupervisorUnavailableError} when supervisord cannot be reached or the call times out.
   * @throws {SupervisorAuthError} on HTTP 401.
   * @throws {HttpProtocolError} on another status, broken HTTP, or a response over the limits.
   * @throws {UsageError} when Deno's permissions do not cover the socket or host.
   * @throws the signal's reason when `signal` aborts.
   */
  async post(
    body: string,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<string> {
    const timeoutMs = checkPositive("timeoutMs", options.timeoutMs ?? this.#timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    const request = this.#encodeRequest(body);
    const started = Date.now();
    logger.debug("POST /RPC2 to {url}: {requestBytes} bytes", {
      url: this.url,
      requestBytes: request.length,
    });

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, Math.min(timeoutMs, MAX_TIMER_MS));
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let conn: Deno.Conn | undefined;
    const closeConn = () => {
      const open = conn;
      conn = undefined;
      try {
        open?.close();
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    };
    // Closing the connection makes any pending read or write fail at once.
    controller.signal.addEventListener("abort", closeConn, { once: true });
    try {
      conn = await this.#connect(controller.signal);
      controller.signal.throwIfAborted();
      await _writeAll(conn, request);
      const reader = new HttpResponseReader(conn, this.url, {
        maxHeaderBytes: this.#maxHeaderBytes,
        maxBodyBytes: this.#maxResponseBytes,
      });
      const head = await reader.readHead();
      this.#checkStatus(head);
      const text = await reader.readBody(head);
      logger.debug("{url} answered {status} with {responseChars} characters in {elapsedMs}", {
        url: this.url,
        status: head.status,
        responseChars: text.length,
        elapsedMs: Date.now() - started,
      });
      return text;
    } catch (error) {
      const failure = timedOut
        ? new SupervisorUnavailableError(
          this.url,
          "timeout",
          `Cannot get an answer from supervisord at ${JSON.stringify(this.url)}: no response ` +
            `within ${formatDuration(timeoutMs)}; is supervisord overloaded or stuck?`,
          { cause: error },
        )
        : controller.signal.aborted
        ? controller.signal.reason
        : classifyConnectError(error, this.#endpoint);
      logger.debug("POST /RPC2 to {url} failed after {elapsedMs}: {error}", {
        url: this.url,
        elapsedMs: Date.now() - started,
        error: failure instanceof Error ? failure.message : String(failure),
      });
      throw failure;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      controller.signal.removeEventListener("abort", closeConn);
      closeConn();
    }
  }

  #encodeRequest(body: string): Uint8Array {
    const encoder = new TextEncoder();
    const bodyBytes = encoder.encode(body);
    const endpoint = this.#endpoint;
    const host = endpoint.kind === "unix"
      ? "localhost"
      : `${
        endpoint.hostname.includes(":") ? `[${endpoint.hostname}]` : endpoint.hostname
      }:${endpoint.port}`;
    const lines = [
      "POST /RPC2 HTTP/1.1",
      `Host: ${host}`,
      "Content-Type: text/xml",
      `Content-Length: ${bodyBytes.length}`,
      "Connection: close",
    ];
    if (this.#authorization !== undefined) lines.push(`Authorization: ${this.#authorization}`);
    const head = encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
    const request = new Uint8Array(head.length + bodyBytes.length);
    request.set(head);
    request.set(bodyBytes, head.length);
    return request;
  }

  #checkStatus(head: HttpResponseHead): void {
    const url = JSON.stringify(this.url);
    if (head.status === HTTP_UNAUTHORIZED) {
      throw new SupervisorAuthError(
        this.url,
        this.#authorization === undefined
          ? `Cannot log in to supervisord at ${url}: it asks for a username and password ` +
            `(HTTP 401) and none is set; set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD to ` +
            AUTH_SECTIONS
          : `Cannot log in to supervisord at ${url}: wrong username or password (HTTP 401); ` +
            `check SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD against ${AUTH_SECTIONS}`,
      );
    }
    if (head.status !== HTTP_OK) {
      const statusLine = JSON.stringify(head.statusLine.slice(0, 120));
      throw new HttpProtocolError(
        this.url,
        head.status,
        `Cannot call supervisord's XML-RPC interface at ${url}: the server answered ` +
          `${statusLine}; check that this URL is supervisord's and see its log`,
      );
    }
  }

  async #connect(signal: AbortSignal): Promise<Deno.Conn> {
    const endpoint = this.#endpoint;
    if (endpoint.kind === "tcp") {
      return await Deno.connect({ hostname: endpoint.hostname, port: endpoint.port, signal });
    }
    // Unix connects take no signal: race the abort, and close a connection that arrives late.
    const connecting = Deno.connect({ transport: "unix", path: endpoint.path });
    return await new Promise<Deno.Conn>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      connecting.then((conn) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) conn.close();
        else resolve(conn);
      }, (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      });
    });
  }
}

async function _writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(bytes.subarray(written));
  }
}

function _base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
