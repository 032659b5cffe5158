/**
 * The one list of Deno permissions releasemon runs with. `deno task compile` bakes it into the
 * binary and the end-to-end tests run `main.ts` under exactly the same flags (with the test's own
 * socket path), so a missing permission fails in tests, not in production.
 *
 * @module
 */
import { ENV_NAMES } from "../main.ts";

/** Where supervisord's unix socket usually lives (Debian, RHEL, supervisord's sample config). */
export const DEFAULT_SOCKETS = [
  "/run/supervisor.sock",
  "/var/run/supervisor.sock",
  "/tmp/supervisor.sock",
];
/** `[inet_http_server]` on loopback, any port. */
export const DEFAULT_NET_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

export interface PermissionOptions {
  /** supervisord unix sockets releasemon may connect to. */
  sockets?: readonly string[];
  /** Hosts (optionally host:port) for `http://` server URLs and the `--fleet` Redis server. */
  netHosts?: readonly string[];
}

/**
 * The flags, each with its reason:
 * - read: the version file and every symlink on its path can be anywhere the operator chooses,
 *   and `--password-file` too, so reading is not path-scoped; plus the socket (Deno needs read,
 *   write and net together to connect to a unix socket, measured on 2.9.6).
 * - write: only the sockets (connecting counts as writing); releasemon writes no file.
 * - net: only the sockets and loopback.
 * - env: only the variables releasemon reads; hooks inherit the environment without it.
 * - run: `sh`, for the pre- and post-restart commands.
 * - sys: the host name only, the default `--fleet-id`.
 * Plus V8 flags for a smaller resident footprint that does not grow: `--optimize-for-size`, and
 * `--lite-mode` (no optimizing compilers: releasemon waits on I/O, and the compilers' code and
 * output were what grew RSS over the first hundreds of restarts; see docs/performance.md), and
 * `--expose-gc`, so that releasemon collects a cycle's garbage once the cycle is done
 * (`lib/run.ts`) instead of letting V8's old generation grow with every restart.
 * For `--fleet` with a Redis server that is not on loopback, add its host with `--net HOST:PORT`.
 */
export function permissionFlags(options: PermissionOptions = {}): string[] {
  const sockets = options.sockets ?? DEFAULT_SOCKETS;
  const netHosts = options.netHosts ?? DEFAULT_NET_HOSTS;
  const net = [...sockets.map((path) => `unix:${path}`), ...netHosts];
  return [
    "--no-prompt",
    "--allow-read",
    `--allow-write=${sockets.join(",")}`,
    `--allow-net=${net.join(",")}`,
    `--allow-env=${ENV_NAMES.join(",")}`,
    "--allow-run=sh",
    "--allow-sys=hostname",
    // Not a permission, but part of how the binary runs: V8 keeps its heap small (the bench
    // measured ~15 MB less resident memory after 600 restarts, same live heap), and with no
    // optimizing compiler and a collection after each cycle RSS stays flat over restarts
    // (issue 16: +13.6% after 1,000 restarts without the collection, +0.1% after 100 with it).
    "--v8-flags=--optimize-for-size,--lite-mode,--expose-gc",
  ];
}
