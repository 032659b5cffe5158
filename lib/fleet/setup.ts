/**
 * Building the fleet from the configuration (loaded by main.ts only with `--fleet`, so hosts
 * without it never load the Redis client).
 *
 * @module
 */
import { getLogger } from "../logger.ts";
import { sleep, systemClock } from "../clock.ts";
import { formatDuration } from "../delay.ts";
import type { Config } from "../config.ts";
import { FleetCoordinator } from "./coordinator.ts";
import { FleetIdentityError, FleetUnavailableError } from "./fleet.ts";
import { RedisFleet } from "./redis_fleet.ts";
import { formatStatusJson, formatStatusText } from "./status_format.ts";

const log = getLogger(["releasemon", "fleet"]);

export function createFleet(config: Config): RedisFleet {
  const fleet = config.fleet!;
  return new RedisFleet(fleet.url, fleet.password, {
    group: fleet.name,
    hostId: fleet.hostId ?? Deno.hostname(),
    maxParallel: fleet.maxParallel,
    canary: fleet.canary,
    leaseMs: fleet.leaseMs,
    instance: `pid ${Deno.pid} on ${JSON.stringify(Deno.hostname())}`,
  });
}

/**
 * The fleet for a running releasemon: connected at start-up when possible (an unreachable
 * server is not fatal). Throws FleetIdentityError when another live releasemon process already
 * uses this host's `--fleet-id` in the group.
 */
export async function startFleet(
  config: Config,
): Promise<{ coordinator: FleetCoordinator; close(): Promise<void> }> {
  const fleet = createFleet(config);
  try {
    await fleet.connect();
    await _join(fleet, config.fleet!.leaseMs);
    log.info("Connected to the fleet at {url}", { url: fleet.url });
  } catch (error) {
    if (error instanceof FleetIdentityError) {
      await fleet.close();
      throw error;
    }
    // --fleet-on-error decides what a restart does while Redis is unreachable.
    const refused = error instanceof FleetUnavailableError && error.authRefused;
    log[refused ? "error" : "warning"]("Cannot reach the fleet at start-up: {error}", {
      error: error instanceof Error ? error.message : String(error),
    });
  }
  const coordinator = new FleetCoordinator(fleet, {
    onError: config.fleet!.onError,
    timeoutMs: config.fleet!.timeoutMs,
  }, systemClock);
  return { coordinator, close: () => fleet.close() };
}

/**
 * Claims the host id. A claim held by another process is waited out for one lease: a crashed
 * releasemon's claim lapses within a lease (so supervisord's restart of it gets in), while a live
 * one keeps refreshing its claim, and then the FleetIdentityError is thrown.
 */
async function _join(fleet: RedisFleet, leaseMs: number): Promise<void> {
  const deadline = systemClock.now() + leaseMs + Math.ceil(leaseMs / 3);
  for (let attempt = 0;; attempt++) {
    try {
      return await fleet.join();
    } catch (error) {
      const leftMs = deadline - systemClock.now();
      if (!(error instanceof FleetIdentityError) || leftMs <= 0) throw error;
      if (attempt === 0) {
        log.warning("{error}; waiting up to {wait} in case that process is gone", {
          error: error.message,
          wait: formatDuration(leftMs),
        });
      }
      await sleep(systemClock, Math.min(leftMs, Math.ceil(leaseMs / 6)));
    }
  }
}

/** `--fleet-status` / `--fleet-resume`: one question to the fleet; returns the text to print. */
export async function fleetCommand(config: Config, mode: "status" | "resume"): Promise<string> {
  await using fleet = createFleet(config);
  await fleet.connect();
  if (mode === "resume") return (await fleet.resume()) ? "Halt cleared" : "No halt to clear";
  const status = await fleet.status();
  return config.logFormat === "json" ? formatStatusJson(status) : formatStatusText(status);
}
