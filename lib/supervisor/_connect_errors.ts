/**
 * What went wrong when reaching supervisord: an error from connecting, writing or reading turned
 * into the error releasemon reports, with its reason and a message that says what to check.
 *
 * @module
 */

import { SupervisorUnavailableError, type UnavailableReason, UsageError } from "../errors.ts";
import type { ServerEndpoint } from "./server_url.ts";

/**
 * Turns an error from connecting, writing or reading into the error releasemon reports:
 * a {@linkcode SupervisorUnavailableError} with a reason, a {@linkcode UsageError} when Deno's
 * permissions are missing (retrying cannot fix that), or `error` itself when it is neither.
 */
export function classifyConnectError(error: unknown, endpoint: ServerEndpoint): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  const connect = `Cannot connect to supervisord at ${JSON.stringify(endpoint.url)}`;
  if (error instanceof Deno.errors.NotCapable) {
    const target = endpoint.kind === "unix"
      ? endpoint.path
      : `${_hostForHeader(endpoint.hostname)}:${endpoint.port}`;
    const flags = endpoint.kind === "unix"
      ? `--allow-read=${target}, --allow-write=${target} and --allow-net=unix:${target} ` +
        "(Deno 2.9.6 needs all three for a unix socket)"
      : `--allow-net=${target}`;
    if (endpoint.kind === "unix" && !_exists(endpoint.path)) {
      // Most likely a typo in -s: say that first; the permission comes second.
      return new UsageError(
        `${connect}: no such socket ${JSON.stringify(target)}; check the URL against the file= ` +
          "of supervisord's [unix_http_server] section; note that this releasemon may connect " +
          "only to the sockets it was built for (deno task compile --socket PATH, or " +
          `deno task install --socket PATH; with deno run: ${flags})`,
        { cause: error },
      );
    }
    return new UsageError(
      `${connect}: releasemon lacks the Deno permission for ${JSON.stringify(target)}; ` +
        `run it with ${flags}; retrying cannot fix this`,
      { cause: error },
    );
  }
  const reason = _reasonOf(error, endpoint);
  if (reason === undefined) return error;
  const message = _reasonMessage(reason, endpoint, error);
  return new SupervisorUnavailableError(endpoint.url, reason, message, { cause: error });
}

function _reasonOf(error: Error, endpoint: ServerEndpoint): UnavailableReason | undefined {
  const is = (...classes: (new (message?: string) => Error)[]) =>
    classes.some((errorClass) => error instanceof errorClass);
  const errors = Deno.errors;
  const code = (error as { code?: unknown }).code;
  if (is(errors.NotFound, errors.NotADirectory)) {
    return endpoint.kind === "unix" ? "socket-missing" : "host-unreachable";
  }
  if (is(errors.PermissionDenied)) return "permission-denied";
  // WouldBlock: EAGAIN from a unix connect whose listen queue is full.
  if (is(errors.ConnectionRefused, errors.WouldBlock)) return "connection-refused";
  if (is(errors.ConnectionReset, errors.ConnectionAborted, errors.BrokenPipe)) {
    return "connection-reset";
  }
  if (is(errors.NotConnected)) return "connection-reset";
  if (is(errors.UnexpectedEof)) return "closed-mid-response";
  if (is(errors.TimedOut)) return "timeout";
  if (
    is(errors.NetworkUnreachable, errors.AddrNotAvailable) ||
    (typeof code === "string" && /^E(HOST|NET)(UNREACH|DOWN)$/.test(code)) ||
    /failed to lookup address|name or service not known|name resolution/i.test(error.message)
  ) {
    return "host-unreachable";
  }
  return undefined;
}

/** `Cannot <action> "<url>": <what was found>; <what to check>` for each reason. */
function _reasonMessage(reason: UnavailableReason, endpoint: ServerEndpoint, error: Error) {
  const detail = JSON.stringify(error.message);
  const at = `supervisord at ${JSON.stringify(endpoint.url)}`;
  const unix = endpoint.kind === "unix";
  switch (reason) {
    case "socket-missing":
      return `Cannot connect to ${at}: no such file; is supervisord running, and is this the ` +
        "file= of its [unix_http_server] section?";
    case "permission-denied":
      return unix
        ? `Cannot connect to ${at}: permission denied; check chmod= and chown= in its ` +
          "[unix_http_server] section against the user releasemon runs as"
        : `Cannot connect to ${at}: permission denied (${detail}); check firewall rules`;
    case "connection-refused":
      if (error instanceof Deno.errors.WouldBlock) {
        return `Cannot connect to ${at}: its listen queue is full (${detail}); supervisord may ` +
          "be overloaded";
      }
      return unix
        ? `Cannot connect to ${at}: connection refused (the socket file exists but nothing ` +
          "listens on it); is supervisord running?"
        : `Cannot connect to ${at}: connection refused; is supervisord running, and is this ` +
          "the port= of its [inet_http_server] section?";
    case "connection-reset":
      return `Cannot talk to ${at}: the connection was reset (${detail}); supervisord may be ` +
        "restarting";
    case "closed-mid-response":
      return `Cannot read the response from ${at}: the connection closed early (${detail}); ` +
        "supervisord may be restarting";
    case "timeout":
      return `Cannot connect to ${at}: timed out (${detail}); check the host and the network`;
    default:
      return `Cannot connect to ${at}: host unreachable (${detail}); check the host name in ` +
        "the URL and the network";
  }
}

/** Whether `path` exists (lstat needs only --allow-read, which releasemon has). */
function _exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    // Unknown (no read permission...): assume it exists, and give the permission advice.
    return !(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory);
  }
}

/** An IPv6 address goes in brackets in a Host header and in `--allow-net`. */
function _hostForHeader(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
