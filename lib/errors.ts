/**
 * Error classes shared by every part of releasemon, and the process exit codes.
 *
 * A leaf module: it imports nothing from `lib/`. Only `main.ts` maps errors to exit codes;
 * per-program restart outcomes are values, not exceptions.
 *
 * @module
 */

/** Exit statuses, named after supervisorctl's LSB ones. */
export const EXIT_OK = 0;
/** A fatal run-time error that retrying cannot fix (auth refused, no `supervisor` namespace). */
export const EXIT_FAILURE = 1;
/** Bad or conflicting flags, or an invalid setting: usage line plus one reason on stderr. */
export const EXIT_USAGE = 2;

/**
 * `url` as it may appear in a message: whatever may be userinfo (`user:password@`, `:password@`,
 * `token@`) replaced by `***`, as in `https://***@host:9001`. Errs on the side of hiding: all
 * between `://` (or the start, without a scheme) and the last `@` before any `?` or `#` goes,
 * unless that part starts with `/` (a unix socket path, where `@` is an ordinary character).
 */
export function redactUrl(url: string): string {
  const schemeEnd = url.indexOf("://");
  const start = schemeEnd < 0 ? 0 : schemeEnd + 3;
  if (url.startsWith("/", start)) return url;
  const queryAt = url.slice(start).search(/[?#]/);
  const end = queryAt < 0 ? url.length : start + queryAt;
  const at = url.lastIndexOf("@", end - 1);
  if (at < start) return url;
  return `${url.slice(0, start)}***${url.slice(at)}`;
}

/** Bad command line or configuration; `main.ts` prints the usage line and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
  /** The usage line to print above the message, when the error came from the command line. */
  readonly usage: string | undefined;
  constructor(message: string, options?: ErrorOptions & { usage?: string }) {
    super(message, options);
    this.usage = options?.usage;
  }
}

/** Why supervisord could not be reached; every one of these is worth retrying. */
export type UnavailableReason =
  | "socket-missing"
  | "permission-denied"
  | "connection-refused"
  | "connection-reset"
  | "closed-mid-response"
  | "timeout"
  | "host-unreachable"
  | "shutting-down";

/** supervisord is not reachable right now; time may fix it, so callers back off and retry. */
export class SupervisorUnavailableError extends Error {
  override name = "SupervisorUnavailableError";
  /** The server URL, never with credentials in it. */
  readonly url: string;
  readonly reason: UnavailableReason;
  constructor(url: string, reason: UnavailableReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.url = url;
    this.reason = reason;
  }
}

/** supervisord refused our credentials (HTTP 401). */
export class SupervisorAuthError extends Error {
  override name = "SupervisorAuthError";
  readonly url: string;
  constructor(url: string, message: string) {
    super(message);
    this.url = url;
  }
}

/** The server answered with an HTTP status other than 200 or 401, or broke HTTP framing. */
export class HttpProtocolError extends Error {
  override name = "HttpProtocolError";
  readonly url: string;
  /** The HTTP status, or 0 when the response was not valid HTTP at all. */
  readonly status: number;
  constructor(url: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.url = url;
    this.status = status;
  }
}

/** The XML-RPC document is malformed, too large, too deep, or of the wrong shape. */
export class XmlRpcSyntaxError extends SyntaxError {
  override name = "XmlRpcSyntaxError";
  /** Character offset in the document where the problem was found (-1 when not known). */
  readonly offset: number;
  constructor(message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at offset ${offset})` : message);
    this.offset = offset;
  }
}

/** A `<fault>` returned by an XML-RPC server. */
export class XmlRpcFault extends Error {
  override name = "XmlRpcFault";
  readonly code: number;
  readonly faultString: string;
  constructor(code: number, faultString: string) {
    super(`XML-RPC fault ${code}: ${faultString}`);
    this.code = code;
    this.faultString = faultString;
  }
}

/** A supervisord fault, with supervisord's own name for the code (BAD_NAME, SPAWN_ERROR, ...). */
export class SupervisorFault extends XmlRpcFault {
  override name = "SupervisorFault";
  /** supervisord's name for the fault code, or `UNKNOWN_FAULT_<code>`. */
  readonly faultName: string;
  /** The method that failed, e.g. `supervisor.startProcess`. */
  readonly method: string;
  constructor(code: number, faultName: string, faultString: string, method: string) {
    super(code, faultString);
    this.faultName = faultName;
    this.method = method;
    this.message = `${method} failed: ${faultName}: ${faultString}`;
  }
}
