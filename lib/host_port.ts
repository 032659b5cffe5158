/**
 * The host and port of a URL's authority, for the server URL (`supervisor/server_url.ts`) and the
 * fleet URL (`fleet/fleet_url.ts`) parsers. Pure: no `Deno.*`.
 *
 * @module
 */
import { quote } from "./log.ts";

/** Throws the caller's error (naming the URL) with `detail`. */
export type Fail = (detail: string) => never;

/**
 * Splits `host[:port]` or `[ipv6][:port]`; `portText` is undefined without a colon. `example` is a
 * URL with a bracketed IPv6 address, for the message when the brackets are missing.
 */
export function splitAuthority(
  authority: string,
  example: string,
  fail: Fail,
): { hostPart: string; portText: string | undefined } {
  if (!authority.startsWith("[") && authority.indexOf(":") !== authority.lastIndexOf(":")) {
    fail(`an IPv6 address must be in brackets, as in ${example}`);
  }
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(authority);
  const hostPart = match?.[1] ?? "";
  if (match === null || hostPart === "" || hostPart === "[]") fail("no host name");
  return { hostPart, portText: match?.[2] };
}

/**
 * The host as WHATWG URL normalises it (lower case, IDNA, IPv4 forms, IPv6 compressed and in
 * brackets), or `fail` when it is not a valid host name.
 */
export function normalizeHost(hostPart: string, fail: Fail): string {
  try {
    // The http scheme only borrows WHATWG's host rules.
    return new URL(`http://${hostPart}/`).hostname;
  } catch {
    return fail(`${quote(hostPart)} is not a valid host name`);
  }
}
