import assert from "node:assert/strict";
import type { RolloutStatus } from "../../lib/fleet/fleet.ts";
import { countStates, formatStatusJson, formatStatusText } from "../../lib/fleet/status_format.ts";

const T0 = Date.UTC(2026, 0, 1);
const HALTED: RolloutStatus = {
  group: "web",
  version: { hash: "3f9a0c1d2e4b", label: "v42" },
  halted: {
    reason: 'host "web-3" reported failed: web:app: SPAWN_ERROR',
    by: "web-3",
    at: T0 + 5000,
  },
  hosts: [
    { hostId: "web-1", state: "done", outcome: "success", detail: "", at: T0 + 1000 },
    {
      hostId: "web-3",
      state: "failed",
      outcome: "failed",
      detail: "web:app: SPAWN_ERROR",
      at: T0 + 5000,
    },
    { hostId: "web-4", state: "restarting", outcome: null, detail: "", at: T0 + 4000 },
    { hostId: "web-2", state: "skipped", outcome: "skipped", detail: "halted", at: T0 + 5001 },
    { hostId: "web-5", state: "waiting", outcome: null, detail: "", at: T0 + 4500 },
  ],
  slots: ["web-4"],
};

Deno.test("formatStatusText() shows the halt, the counts and one row per host", () => {
  assert.equal(
    formatStatusText(HALTED),
    [
      'Fleet "web", version "v42" (3f9a0c1d2e4b)',
      'HALTED: host "web-3" reported failed: web:app: SPAWN_ERROR (by web-3 at 2026-01-01T00:00:05.000Z)',
      "Hosts: 1 done, 1 failed, 1 restarting, 1 waiting, 1 skipped; slots held: web-4",
      "",
      "HOST   STATE       OUTCOME  SINCE                     DETAIL",
      "web-1  done        success  2026-01-01T00:00:01.000Z",
      "web-3  failed      failed   2026-01-01T00:00:05.000Z  web:app: SPAWN_ERROR",
      "web-4  restarting  -        2026-01-01T00:00:04.000Z",
      "web-2  skipped     skipped  2026-01-01T00:00:05.001Z  halted",
      "web-5  waiting     -        2026-01-01T00:00:04.500Z",
    ].join("\n"),
  );
});

Deno.test("formatStatusText() says when nothing was rolled out yet", () => {
  assert.equal(
    formatStatusText({ group: "web", version: null, halted: null, hosts: [], slots: [] }),
    'Fleet "web": no rollout recorded yet; slots held: none',
  );
});

Deno.test("formatStatusText() escapes control characters and shortens long details", () => {
  const text = formatStatusText({
    group: "web",
    version: { hash: "abc", label: "v\u001b[31m1\n" },
    halted: null,
    hosts: [{
      hostId: "h\r1",
      state: "failed",
      outcome: "failed",
      detail: "x".repeat(300),
      at: T0,
    }],
    slots: [],
  });
  const lines = text.split("\n");
  assert.equal(lines[0], 'Fleet "web", version "v\\u001b[31m1\\u000a" (abc)');
  assert.equal(lines[1], "Not halted");
  assert.equal(
    lines[5],
    `h\\u000d1  failed  failed   2026-01-01T00:00:00.000Z  ${"x".repeat(119)}…`,
  );
  assert.equal(lines.length, 6);
});

Deno.test("formatStatusJson() is the status plus per-state counts", () => {
  const parsed = JSON.parse(formatStatusJson(HALTED));
  assert.deepEqual(parsed, { ...HALTED, counts: countStates(HALTED) });
  assert.deepEqual(parsed.counts, { done: 1, failed: 1, restarting: 1, waiting: 1, skipped: 1 });
});
