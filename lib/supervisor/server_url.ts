/**
 * Parses supervisord's server URL the way supervisorctl takes it (`SUPERVISOR_SERVER_URL`,
 * `serverurl=` of `[supervisorctl]`): `unix:///run/supervisor.sock` or `http://host:port`.
 *
 * Pure: no `Deno.*`. Credentials never travel in the URL (they come from `SUPERVISOR_USERNAME` and
 * `SUPERVISOR_PASSWORD`), and an error message never echoes them.
 *
 * @module
 */

import { redactUrl, UsageError } from "../errors.ts";
import { type Fail, normalizeHost, splitAuthority } from "../host_port.ts";
import { quote } from "../log.ts";

/** Where supervisord listens. `url` is the display form, never with credentials in it. */
export type ServerEndpoint =
  | { kind: "unix"; path: string; url: string }
  | { kind: "tcp"; hostname: string; port: number; url: string };

const UNIX_PREFIX = "unix://";
const HTTP_PREFIX = "http://";
const HTTP_DEFAULT_PORT = 80;
/** Paths supervisorctl tolerates after the authority; requests always go to `/RPC2`. */
const ALLOWED_HTTP_PATHS: readonly string[] = ["", "/", "/RPC2", "/RPC2/"];
const CREDENTIALS_HINT =
  "credentials in the URL are not supported; set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD instead";

/**
 * Parses a supervisord server URL into an endpoint.
 *
 * @throws {UsageError} when the URL is empty, has another scheme, carries credentials, or has a
 * bad path, host or port; the message names the URL with any userinfo redacted.
 */
export function parseServerUrl(url: string): ServerEndpoint {
  const fail = (detail: string): never => {
    throw new UsageError(`Cannot use server URL ${quote(redactUrl(url))}: ${detail}`);
  };
  if (url.trim() === "") {
    fail("it is empty; use unix:///path/to/supervisor.sock or http://host:port");
  }
  if (url !== url.trim()) fail("it has leading or trailing whitespace");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(url)) fail("it contains control characters");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "unix" && url.slice(0, UNIX_PREFIX.length).toLowerCase() === UNIX_PREFIX) {
    return _parseUnix(url.slice(UNIX_PREFIX.length), fail);
  }
  if (scheme === "http" && url.slice(0, HTTP_PREFIX.length).toLowerCase() === HTTP_PREFIX) {
    return _parseHttp(url, fail);
  }
  if (_hasUserinfo(url)) fail(CREDENTIALS_HINT);
  return fail("only unix:// and http:// URLs are supported");
}

function _hasUserinfo(url: string): boolean {
  const schemeEnd = url.indexOf("://");
  const rest = schemeEnd >= 0 ? url.slice(schemeEnd + 3) : url;
  return rest.includes("@") && !rest.startsWith("/");
}

function _parseUnix(path: string, fail: Fail): ServerEndpoint {
  if (_hasUserinfo(UNIX_PREFIX + path)) fail(CREDENTIALS_HINT);
  if (path === "") fail("no socket path after unix://");
  if (!path.startsWith("/")) {
    fail("the socket path must be absolute, as in unix:///run/supervisor.sock");
  }
  if (path.endsWith("/")) fail("the socket path names a directory, not a socket file");
  return { kind: "unix", path, url: UNIX_PREFIX + path };
}

function _parseHttp(url: string, fail: Fail): ServerEndpoint {
  const rest = url.slice(HTTP_PREFIX.length);
  // The authority ends at the first "/", "?", "#" or "\" (WHATWG URL, special schemes).
  const authorityEnd = rest.search(/[/?#\\]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd < 0 ? "" : rest.slice(authorityEnd);
  if (_hasUserinfo(url)) fail(CREDENTIALS_HINT);
  if (!ALLOWED_HTTP_PATHS.includes(tail)) {
    fail(
      `unexpected path ${quote(tail)}; releasemon always posts to /RPC2, so give only host:port`,
    );
  }
  const { hostPart, portText } = splitAuthority(authority, "http://[::1]:9001", fail);
  const port = portText === undefined || portText === "" ? HTTP_DEFAULT_PORT : Number(portText);
  if (!/^\d*$/.test(portText ?? "") || !Number.isInteger(port) || port < 1 || port > 65535) {
    fail(`port ${quote(portText ?? "")} is not a number from 1 to 65535`);
  }
  const host = normalizeHost(hostPart, fail);
  const hostname = host.startsWith("[") ? host.slice(1, -1) : host;
  return { kind: "tcp", hostname, port, url: `${HTTP_PREFIX}${host}:${port}` };
}
