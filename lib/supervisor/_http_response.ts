/**
 * Reads one HTTP/1.x response from a byte source: status line, headers, and a body framed by
 * Content-Length, chunked transfer coding, or the end of the connection (RFC 9112 sections 4-7).
 *
 * Pure: it reads from any {@linkcode ByteSource} (a `Deno.Conn` is one) and touches no `Deno.*`.
 * Memory is bounded: the head never grows past `maxHeaderBytes`, the body never past
 * `maxBodyBytes`; on either limit it stops reading and throws.
 *
 * @module
 */

import { HttpProtocolError, SupervisorUnavailableError } from "../errors.ts";
import { quote } from "../log.ts";

/** Received text shown in a message is cut after this many characters. */
const MAX_QUOTED_CHARS = 80;

/** Anything that reads bytes like `Deno.Conn.read`: a count, or `null` at end of stream. */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Size limits for one response. */
export interface HttpResponseLimits {
  /** Status line, headers and chunked trailers together, in bytes. */
  maxHeaderBytes: number;
  /** The body after removing chunked framing, in bytes. */
  maxBodyBytes: number;
}

/** A parsed status line and header section. */
export interface HttpResponseHead {
  /** `"1.0"` or `"1.1"`. */
  version: string;
  status: number;
  /** The status line as received, for messages, e.g. `HTTP/1.1 500 Internal Server Error`. */
  statusLine: string;
  /** Header values by lower-case name; repeated headers are joined with `", "`. */
  headers: ReadonlyMap<string, string>;
}

type Decode = (bytes: Uint8Array, stream: boolean) => string;

const READ_CHUNK_BYTES = 16 * 1024;
/** A chunk-size line (hex size plus extensions) longer than this is not from a sane server. */
const MAX_CHUNK_LINE_BYTES = 4096;
const LF = 0x0a;
const STATUS_LINE = /^HTTP\/(1\.[01]) ([1-9]\d\d)(?: .*)?$/;
/** `field-name ":" OWS field-value OWS`; a name is an RFC 9110 token. */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?$/;

/** Reads one response from `source`: first {@linkcode readHead}, then, if wanted, `readBody`. */
export class HttpResponseReader {
  readonly #source: ByteSource;
  readonly #url: string;
  readonly #limits: HttpResponseLimits;
  #buffer = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;
  #headerBytes = 0;
  #receivedAny = false;

  /** `url` is the display form of the server URL, used in error messages. */
  constructor(source: ByteSource, url: string, limits: HttpResponseLimits) {
    this.#source = source;
    this.#url = url;
    this.#limits = limits;
  }

  /** Reads the status line and headers, skipping any interim (1xx) responses. */
  async readHead(): Promise<HttpResponseHead> {
    for (;;) {
      const statusLine = await this.#readHeaderLine("the status line");
      const match = STATUS_LINE.exec(statusLine);
      if (match === null) {
        throw this.#malformed(
          `expected an HTTP/1.x status line, got ${quote(statusLine, MAX_QUOTED_CHARS)}`,
        );
      }
      const headers = await this.#readFields("the headers");
      const status = Number(match[2]);
      if (status >= 200 || status === 101) {
        return { version: match[1] ?? "", status, statusLine, headers };
      }
    }
  }

  /** Reads the body that `head` frames and decodes it as UTF-8 (invalid UTF-8 is an error). */
  async readBody(head: HttpResponseHead): Promise<string> {
    const encoding = head.headers.get("content-encoding");
    if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
      throw this.#malformed(`unsupported Content-Encoding ${quote(encoding, MAX_QUOTED_CHARS)}`);
    }
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const decode: Decode = (bytes, stream) => {
      try {
        return decoder.decode(bytes, { stream });
      } catch (error) {
        throw this.#malformed("the body is not valid UTF-8", error);
      }
    };
    const transferEncoding = head.headers.get("transfer-encoding");
    if (transferEncoding !== undefined) {
      if (transferEncoding.trim().toLowerCase() !== "chunked") {
        throw this.#malformed(
          `unsupported Transfer-Encoding ${quote(transferEncoding, MAX_QUOTED_CHARS)}`,
        );
      }
      return await this.#readChunked(decode);
    }
    const contentLength = head.headers.get("content-length");
    if (contentLength !== undefined) {
      const length = _parseContentLength(contentLength);
      if (length === undefined) {
        throw this.#malformed(`invalid Content-Length ${quote(contentLength, MAX_QUOTED_CHARS)}`);
      }
      this.#checkBodySize(length);
      const body = new Uint8Array(length);
      await this.#readExactly(body, "of the body");
      return decode(body, false);
    }
    return await this.#readUntilClose(decode);
  }

  async #readChunked(decode: Decode): Promise<string> {
    const parts: string[] = [];
    let total = 0;
    for (;;) {
      const line = await this.#readLine(MAX_CHUNK_LINE_BYTES, "a chunk size line");
      const match = CHUNK_SIZE_LINE.exec(line);
      if (match === null) {
        throw this.#malformed(`invalid chunk size line ${quote(line, MAX_QUOTED_CHARS)}`);
      }
      const size = parseInt(match[1] ?? "", 16);
      if (size === 0) break;
      total += size;
      this.#checkBodySize(total);
      const chunk = new Uint8Array(size);
      await this.#readExactly(chunk, "of a chunk");
      parts.push(decode(chunk, true));
      const end = await this.#readLine(MAX_CHUNK_LINE_BYTES, "the end of a chunk");
      if (end !== "") throw this.#malformed("chunk data is longer than its size line says");
    }
    await this.#readFields("the chunked trailers");
    parts.push(decode(new Uint8Array(0), false));
    return parts.join("");
  }

  async #readUntilClose(decode: Decode): Promise<string> {
    const parts: string[] = [];
    let total = 0;
    for (;;) {
      // Ask for at most one byte past the limit, so an oversized body is caught without
      // holding more than the limit.
      const room = Math.min(READ_CHUNK_BYTES, this.#limits.maxBodyBytes - total + 1);
      const chunk = this.#takeBuffered(room) ?? await this.#readSome(room);
      if (chunk === null) break;
      total += chunk.length;
      this.#checkBodySize(total);
      parts.push(decode(chunk, true));
    }
    parts.push(decode(new Uint8Array(0), false));
    return parts.join("");
  }

  /** Header fields up to the empty line, within what is left of `maxHeaderBytes`. */
  async #readFields(what: string): Promise<Map<string, string>> {
    const headers = new Map<string, string>();
    for (;;) {
      const line = await this.#readHeaderLine(what);
      if (line === "") return headers;
      const match = HEADER_LINE.exec(line);
      if (match === null) {
        throw this.#malformed(`invalid header line ${quote(line, MAX_QUOTED_CHARS)}`);
      }
      const name = (match[1] ?? "").toLowerCase();
      const value = match[2] ?? "";
      const previous = headers.get(name);
      headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
    }
  }

  /** A line of the head or the trailers, within what is left of `maxHeaderBytes`. */
  #readHeaderLine(what: string): Promise<string> {
    return this.#readLine(this.#limits.maxHeaderBytes - this.#headerBytes, what, true);
  }

  /**
   * One line without its LF (and CR, if any), decoded as Latin-1. The line with its ending may
   * take at most `limit` bytes.
   */
  async #readLine(limit: number, what: string, isHeader = false): Promise<string> {
    let scanned = 0; // bytes after #start already searched (#fill may move #start)
    for (;;) {
      const lf = this.#buffer.subarray(this.#start + scanned, this.#end).indexOf(LF);
      if (lf >= 0) {
        const lineEnd = this.#start + scanned + lf;
        const length = lineEnd + 1 - this.#start;
        if (length > limit) break;
        const stop = lineEnd > this.#start && this.#buffer[lineEnd - 1] === 0x0d
          ? lineEnd - 1
          : lineEnd;
        const line = new TextDecoder("latin1").decode(this.#buffer.subarray(this.#start, stop));
        this.#start = lineEnd + 1;
        if (isHeader) this.#headerBytes += length;
        return line;
      }
      scanned = this.#end - this.#start;
      if (this.#end - this.#start >= limit) break;
      if (!await this.#fill(limit - (this.#end - this.#start))) {
        throw this.#closed(`in the middle of ${what}`);
      }
    }
    if (isHeader) {
      throw this.#malformed(
        `the header section is larger than ${this.#limits.maxHeaderBytes} bytes (maxHeaderBytes)`,
      );
    }
    throw this.#malformed(`${what} is longer than ${limit} bytes`);
  }

  /** Reads up to `wanted` more bytes into the buffer; false at end of stream. */
  async #fill(wanted: number): Promise<boolean> {
    const room = Math.max(1, Math.min(READ_CHUNK_BYTES, wanted));
    if (this.#buffer.length - this.#end < room) {
      const buffered = this.#end - this.#start;
      const next = buffered + room > this.#buffer.length
        ? new Uint8Array(buffered + room)
        : this.#buffer;
      // `set` copies correctly even when source and target share memory.
      next.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = next;
      this.#start = 0;
      this.#end = buffered;
    }
    const count = await this.#source.read(this.#buffer.subarray(this.#end, this.#end + room));
    if (count === null || count === 0) return false;
    this.#receivedAny = true;
    this.#end += count;
    return true;
  }

  /** Buffered bytes (at most `max`), copied out, or null when the buffer is empty. */
  #takeBuffered(max: number): Uint8Array | null {
    if (this.#start === this.#end) return null;
    const take = Math.min(max, this.#end - this.#start);
    const bytes = this.#buffer.slice(this.#start, this.#start + take);
    this.#start += take;
    return bytes;
  }

  /** One read of at most `max` bytes straight from the source; null at end of stream. */
  async #readSome(max: number): Promise<Uint8Array | null> {
    const chunk = new Uint8Array(max);
    const count = await this.#source.read(chunk);
    if (count === null || count === 0) return null;
    this.#receivedAny = true;
    return chunk.subarray(0, count);
  }

  /** Fills `target` from the buffer, then from the source. */
  async #readExactly(target: Uint8Array, what: string): Promise<void> {
    let filled = 0;
    const buffered = this.#takeBuffered(target.length);
    if (buffered !== null) {
      target.set(buffered);
      filled = buffered.length;
    }
    while (filled < target.length) {
      const count = await this.#source.read(target.subarray(filled));
      if (count === null || count === 0) {
        throw this.#closed(`after ${filled} of ${target.length} bytes ${what}`);
      }
      filled += count;
    }
  }

  #checkBodySize(bytes: number): void {
    if (bytes > this.#limits.maxBodyBytes) {
      throw this.#malformed(
        `the body is larger than ${this.#limits.maxBodyBytes} bytes (maxResponseBytes)`,
      );
    }
  }

  #malformed(detail: string, cause?: unknown): HttpProtocolError {
    return new HttpProtocolError(
      this.#url,
      0,
      `Cannot read the response from supervisord at ${JSON.stringify(this.#url)}: ${detail}; ` +
        "is this URL really supervisord's XML-RPC server?",
      cause === undefined ? undefined : { cause },
    );
  }

  #closed(detail: string): SupervisorUnavailableError {
    const found = this.#receivedAny
      ? `the connection closed ${detail}`
      : "the connection closed before any response arrived";
    return new SupervisorUnavailableError(
      this.#url,
      "closed-mid-response",
      `Cannot read the response from supervisord at ${JSON.stringify(this.#url)}: ${found}; ` +
        "supervisord may be restarting",
    );
  }
}

/** A Content-Length value (repeats must agree, RFC 9110 section 8.6), or undefined if invalid. */
function _parseContentLength(value: string): number | undefined {
  const values = new Set(value.split(",").map((v) => v.trim()));
  if (values.size !== 1) return undefined;
  const [only = ""] = values;
  if (!/^\d{1,15}$/.test(only)) return undefined;
  return Number(only);
}
