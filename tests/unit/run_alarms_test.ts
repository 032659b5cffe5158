import { withLog } from "../support/log_capture.ts";
import assert from "node:assert/strict";
import { alarmUnwatched, alarmWhile } from "../../lib/_run_alarms.ts";
import { renderMessage } from "../../lib/log.ts";
import { FakeClock } from "../support/fake_clock.ts";

Deno.test("alarmWhile() repeats the ERROR with the backoff (1-3, then every 10th) until it clears", async () => {
  await withLog(async (records) => {
    using clock = new FakeClock();
    const controller = new AbortController();
    let checks = 0;
    const done = alarmWhile("permission denied", {
      check: () => Promise.resolve(++checks < 25 ? "permission denied" : null),
      message: "Cannot use supervisord: {problem}; retry {attempt} in {delayMs}",
      properties: { url: "unix:///run/supervisor.sock" },
      cleared: "supervisord at {url} lets releasemon in now",
    }, { clock, signal: controller.signal, stopping: () => false });
    await clock.runAllAsync();
    await done;
    const lines = records.map((r) => `${r.level} ${renderMessage(r)}`);
    assert.deepEqual(lines, [
      "error Cannot use supervisord: permission denied; retry 1 in 250 ms",
      "error Cannot use supervisord: permission denied; retry 2 in 500 ms",
      "error Cannot use supervisord: permission denied; retry 3 in 1 second",
      "error Cannot use supervisord: permission denied; retry 10 in 10 seconds",
      "error Cannot use supervisord: permission denied; retry 20 in 10 seconds",
      "info supervisord at unix:///run/supervisor.sock lets releasemon in now",
    ]);
    assert.equal(checks, 25);
  });
});

Deno.test("alarmUnwatched() is an ERROR while the watcher holds no watch, quiet once it has one", async () => {
  await withLog(async (records) => {
    using clock = new FakeClock();
    const controller = new AbortController();
    const watcher = { watchCount: 0 };
    const done = alarmUnwatched("/app/VERSION", watcher, {
      clock,
      signal: controller.signal,
      stopping: () => false,
    });
    await clock.tickAsync(250 + 500);
    watcher.watchCount = 1;
    await clock.runAllAsync();
    await done;
    assert.deepEqual(records.map((r) => r.level), ["error", "error", "error", "info"]);
    assert.match(
      renderMessage(records[0]!),
      /^Cannot watch \/app\/VERSION for changes: no directory/,
    );
    assert.equal(renderMessage(records.at(-1)!), "Watching /app/VERSION for changes again");

    records.length = 0;
    await alarmUnwatched("/app/VERSION", watcher, {
      clock,
      signal: controller.signal,
      stopping: () => false,
    });
    assert.deepEqual(records, []);
  });
});

Deno.test("alarmWhile() ends quietly when the loop stops", async () => {
  await withLog(async (records) => {
    using clock = new FakeClock();
    const controller = new AbortController();
    const done = alarmWhile("still none", {
      check: () => Promise.resolve("still none"),
      message: "{problem} {attempt} {delayMs}",
      properties: {},
      cleared: "cleared",
    }, { clock, signal: controller.signal, stopping: () => controller.signal.aborted });
    controller.abort();
    await done;
    assert.deepEqual(records.map((r) => renderMessage(r)), ["still none 1 250 ms"]);
  });
});
