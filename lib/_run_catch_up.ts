/**
 * Catch-up at start (lib/catch_up.ts): restart the targets that started before the version
 * already in the file appeared, unless a newer version comes first. Retries while supervisord
 * cannot answer, with the loop's backoff. Also the first version read after a start with no
 * readable version: {@linkcode ContentStamp} tells a permission fix from a deploy.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { staleTargets, versionAppearedAt } from "./catch_up.ts";
import { type Clock, sleep } from "./clock.ts";
import { backoffMs } from "./delay.ts";
import type { MachineEvent, VersionRef } from "./machine.ts";
import { planRestart, type SelfIdentity, type TargetSelection } from "./restart_plan.ts";
import type { SupervisorClient } from "./supervisor/client.ts";
import { isRetryable } from "./_retryable.ts";

const log = getLogger(["releasemon", "run"]);

/** What catch-up needs from the loop. */
export interface CatchUpSetting {
  selection: TargetSelection;
  client: SupervisorClient;
  self: SelfIdentity;
  clock: Clock;
  signal: AbortSignal;
  /** Whether to go on: the loop is not stopping and `baseline` is still the latest version. */
  current: () => boolean;
  dispatch: (event: MachineEvent) => void;
}

/**
 * Dispatches `CatchUpNeeded` for the targets started before `baseline` appeared (at
 * `appearedAt`, seconds since the epoch; null when unknown: nothing to do), if any.
 */
export async function catchUp(
  baseline: VersionRef,
  appearedAt: number | null,
  setting: CatchUpSetting,
): Promise<void> {
  if (appearedAt === null) return;
  // A newer version restarts every target anyway.
  for (let attempt = 0; setting.current(); attempt++) {
    try {
      const infos = await setting.client.getAllProcessInfo();
      const plan = planRestart(infos, setting.selection, setting.self);
      const stale = staleTargets(plan.restart, appearedAt);
      log.debug("Catch-up: version appeared at {appearedAt}; {count} target(s) started before", {
        appearedAt: new Date(appearedAt * 1000).toISOString(),
        count: stale.length,
      });
      if (stale.length > 0) {
        setting.dispatch({
          type: "CatchUpNeeded",
          version: baseline,
          namespecs: stale.map((i) => i.namespec),
        });
      }
      return;
    } catch (error) {
      if (!isRetryable(error)) throw error;
      await sleep(setting.clock, backoffMs(attempt), setting.signal);
    }
  }
}

/**
 * The version file as found at start when it could not be read (unreadable or empty): when its
 * content appeared, and a key of what changes with the content (device, inode, size, mtime) but
 * not with chmod or chown, which only move the ctime catch-up goes by.
 */
export interface ContentStamp {
  appearedAt: number | null;
  key: string;
}

/** The {@linkcode ContentStamp} of the file at `path`; null when there is no regular file. */
export async function contentStamp(path: string): Promise<ContentStamp | null> {
  const info = await Deno.stat(path).catch(() => null);
  if (!info?.isFile) return null;
  const appearedAt = await versionAppearedAt(path).catch(() => null);
  return { appearedAt, key: [info.dev, info.ino, info.size, info.mtime?.getTime()].join(":") };
}

/**
 * When the version now at `path` appeared: at start-up's time when the file is the one found
 * then, unchanged but for its mode or owner (made readable: its content was there all along);
 * else by its ctime (lib/catch_up.ts). Null when unknown.
 */
export async function appearedAtSince(
  path: string,
  atStart: ContentStamp | null,
): Promise<number | null> {
  if (atStart !== null && (await contentStamp(path))?.key === atStart.key) {
    return atStart.appearedAt;
  }
  return await versionAppearedAt(path).catch(() => null);
}
