/**
 * Conditions that leave releasemon running but unable to do its job, which a person must fix:
 * supervisord refusing the socket or the password, no directory of the version file's path
 * watched. Each is an ERROR repeated with the backoff (the first few, then every 10th) until it
 * clears, never a single line lost in the log. Also the start-up check of supervisord.
 *
 * @module
 */
import { getLogger } from "./logger.ts";
import { type Clock, sleep } from "./clock.ts";
import { backoffMs } from "./delay.ts";
import { SupervisorAuthError, SupervisorFault, UsageError } from "./errors.ts";
import { type TargetSelection, unknownNames } from "./restart_plan.ts";
import type { SupervisorClient } from "./supervisor/client.ts";
import { errorText, loggedAttempt, needsPerson } from "./_retryable.ts";

const log = getLogger(["releasemon", "run"]);

/** What the loop lends the alarms. */
export interface AlarmSetting {
  clock: Clock;
  signal: AbortSignal;
  /** True once the loop stops: the alarm ends quietly. */
  stopping: () => boolean;
}

/** One alarm: how to look again, what to say. */
interface Alarm {
  /** The problem still there (its text), or null once it has cleared. */
  check: () => Promise<string | null>;
  /** The ERROR; `{problem}`, `{attempt}` and `{delayMs}` are filled in, with `properties`. */
  message: string;
  properties: Record<string, unknown>;
  /** The INFO once it has cleared. */
  cleared: string;
}

/** Checks `problem` again and again with the backoff, logging the ERROR while it lasts. */
export async function alarmWhile(
  problem: string,
  alarm: Alarm,
  setting: AlarmSetting,
): Promise<void> {
  let current: string | null = problem;
  for (let attempt = 1; current !== null; attempt++) {
    const delayMs = backoffMs(attempt - 1);
    if (loggedAttempt(attempt)) {
      log.error(alarm.message, { ...alarm.properties, problem: current, attempt, delayMs });
    }
    try {
      await sleep(setting.clock, delayMs, setting.signal);
    } catch {
      return; // stopping
    }
    if (setting.stopping()) return;
    current = await alarm.check();
  }
  if (!setting.stopping()) log.info(alarm.cleared, alarm.properties);
}

/**
 * Start-up check: say early when a PROG or group does not exist; throw what retrying cannot fix
 * (main.ts maps it to 1 or 2); raise the alarm while supervisord refuses access. Never fatal
 * when supervisord is merely down. `background` runs the alarm without awaiting it.
 */
export async function checkAtStart(
  client: SupervisorClient,
  selection: TargetSelection,
  setting: AlarmSetting,
  background: (work: Promise<void>) => void,
): Promise<void> {
  try {
    const infos = await client.getAllProcessInfo();
    for (const name of unknownNames(infos, selection)) {
      log.warning("No program matches {name} in supervisord at {url}; check the name", {
        name,
        url: client.url,
      });
    }
  } catch (error) {
    if (error instanceof SupervisorAuthError || error instanceof UsageError) throw error;
    if (error instanceof SupervisorFault && error.faultName === "UNKNOWN_METHOD") {
      throw new Error(
        `supervisord at "${client.url}" has no "supervisor" XML-RPC interface: add ` +
          "[rpcinterface:supervisor] with supervisor.rpcinterface_factory = " +
          "supervisor.rpcinterface:make_main_rpcinterface to its configuration",
      );
    }
    if (needsPerson(error)) {
      background(alarmWhile(errorText(error), {
        check: async () => {
          try {
            await client.getState();
            return null;
          } catch (error) {
            return needsPerson(error) ? errorText(error) : null;
          }
        },
        message: "Cannot use supervisord: {problem}; retry {attempt} in {delayMs}",
        properties: { url: client.url },
        cleared: "supervisord at {url} lets releasemon in now",
      }, setting));
      return;
    }
    log.warning(
      "Cannot reach supervisord at start-up: {error}; will retry when a version arrives",
      { error: errorText(error) },
    );
  }
}

/** Raises the alarm while the watcher holds no watch at all (not polling). */
export async function alarmUnwatched(
  file: string,
  watcher: { readonly watchCount: number },
  setting: AlarmSetting,
): Promise<void> {
  if (watcher.watchCount > 0) return;
  await alarmWhile("no directory on its path can be watched", {
    check: () => Promise.resolve(watcher.watchCount === 0 ? "still no watch" : null),
    message: "Cannot watch {file} for changes: {problem}; releasemon's user must be able to " +
      "read the directories on its path (see the warning above); only the re-check sees " +
      "changes meanwhile; retry {attempt} in {delayMs}",
    properties: { file },
    cleared: "Watching {file} for changes again",
  }, setting);
}
