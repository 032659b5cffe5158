/**
 * Parses the `--fleet` URL: `redis://host[:port][/db]` or `rediss://host[:port][/db]` (TLS).
 *
 * Pure: no `Deno.*`. The password never travels in the URL (the program reads it from
 * `RELEASEMON_FLEET_PASSWORD`), so a URL with `user:password@` is refused, and no message ever
 * echoes what stood before the `@`.
 *
 * @module
 */

import { redactUrl, UsageError } from "../errors.ts";
import { type Fail, normalizeHost, splitAuthority } from "../host_port.ts";
import { quote } from "../log.ts";

/** Where the fleet's Redis listens. `url` is the display form (never with credentials). */
export interface FleetEndpoint {
  host: string;
  port: number;
  /** The logical database (`SELECT`). @default 0 */
  db: number;
  /** True for `rediss://`. */
  tls: boolean;
  url: string;
}

const DEFAULT_PORT = 6379;
/** Redis takes any non-negative int32 as a database index (`databases` in redis.conf caps it). */
const MAX_DB = 2 ** 31 - 1;
const CREDENTIALS_HINT =
  "credentials in the URL are not supported; set RELEASEMON_FLEET_PASSWORD instead";
const SCHEMES: Readonly<Record<string, boolean>> = { "redis": false, "rediss": true };

/**
 * Parses a fleet URL into an endpoint.
 *
 * @throws {UsageError} when the URL is empty, has another scheme, carries credentials or a query,
 * or has a bad host, port or database; the message names the URL with any userinfo redacted.
 */
export function parseFleetUrl(url: string): FleetEndpoint {
  const fail = (detail: string): never => {
    throw new UsageError(`Cannot use fleet URL ${quote(redactUrl(url))}: ${detail}`);
  };
  if (url.trim() === "") fail("it is empty; use redis://host:port/db or rediss://host:port/db");
  if (url !== url.trim()) fail("it has leading or trailing whitespace");
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(url)) fail("it contains control characters");
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  const scheme = schemeMatch?.[1]?.toLowerCase() ?? "";
  const rest = url.slice(schemeMatch?.[0].length ?? 0);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd < 0 ? "" : rest.slice(authorityEnd);
  if (authority.includes("@")) fail(CREDENTIALS_HINT);
  const tls = SCHEMES[scheme];
  if (schemeMatch === null || tls === undefined) {
    fail("only redis:// and rediss:// (TLS) URLs are supported");
  }
  if (tail.includes("?") || tail.includes("#")) {
    fail(`unexpected query or fragment ${quote(tail)}; give only host, port and database`);
  }
  const { host, port } = _parseAuthority(authority, fail);
  const db = _parseDb(tail, fail);
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return { host, port, db, tls: tls === true, url: `${scheme}://${shownHost}:${port}/${db}` };
}

function _parseAuthority(
  authority: string,
  fail: Fail,
): { host: string; port: number } {
  const { hostPart, portText } = splitAuthority(authority, "redis://[::1]:6379/0", fail);
  if (portText !== undefined && !/^\d{1,5}$/.test(portText)) {
    fail(`port ${quote(portText)} is not a number from 1 to 65535`);
  }
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (port < 1 || port > 65535) fail(`port "${port}" is not a number from 1 to 65535`);
  const hostname = normalizeHost(hostPart, fail);
  return { host: hostname.startsWith("[") ? hostname.slice(1, -1) : hostname, port };
}

function _parseDb(tail: string, fail: Fail): number {
  if (tail === "" || tail === "/") return 0;
  const text = tail.slice(1);
  if (!/^\d{1,10}$/.test(text) || Number(text) > MAX_DB) {
    fail(`database ${quote(text)} is not a number from 0 to ${MAX_DB}`);
  }
  return Number(text);
}
