/**
 * Catch-up at start (lib/catch_up.ts): restart the targets that started before the version
 * already in the file appeared, unless a newer version comes first. Retries while supervisord
 * cannot answer, with the loop's backoff.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { staleTargets } from "./catch_up.ts";
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
