import assert from "node:assert/strict";
import { type HookContext, hookEnvironment } from "../../lib/hooks.ts";

const CONTEXT: HookContext = {
  version: { label: "2026.11.25-1", hash: "f".repeat(64) },
  previous: { label: "2026.11.24-3", hash: "e".repeat(64) },
  versionFile: "/app/.version",
  programs: ["web", "workers:*", "batch:b1"],
};

Deno.test("hookEnvironment() describes the versions and programs for a pre hook", () => {
  assert.deepEqual(hookEnvironment("pre", CONTEXT), {
    RELEASEMON_HOOK: "pre",
    RELEASEMON_VERSION: "2026.11.25-1",
    RELEASEMON_VERSION_HASH: "f".repeat(64),
    RELEASEMON_PREVIOUS_VERSION: "2026.11.24-3",
    RELEASEMON_PREVIOUS_VERSION_HASH: "e".repeat(64),
    RELEASEMON_VERSION_FILE: "/app/.version",
    RELEASEMON_PROGRAMS: "web workers:* batch:b1",
  });
});

Deno.test("hookEnvironment() leaves the previous version empty when there is none", () => {
  const env = hookEnvironment("pre", { ...CONTEXT, previous: null, programs: [] });
  assert.equal(env.RELEASEMON_PREVIOUS_VERSION, "");
  assert.equal(env.RELEASEMON_PREVIOUS_VERSION_HASH, "");
  assert.equal(env.RELEASEMON_PROGRAMS, "");
});

Deno.test("hookEnvironment() adds the outcome for a post hook", () => {
  const env = hookEnvironment("post", CONTEXT, {
    outcome: "partial",
    restarted: ["web", "batch:b1"],
    failed: [
      { namespec: "workers:w1", reason: "SPAWN_ERROR" },
      { namespec: "workers:w2", reason: "ABNORMAL_TERMINATION\r\nexit status 1" },
    ],
    notReady: ["workers:w2"],
    reason: "2 of 4 programs failed",
  });
  assert.deepEqual(env, {
    RELEASEMON_HOOK: "post",
    RELEASEMON_VERSION: "2026.11.25-1",
    RELEASEMON_VERSION_HASH: "f".repeat(64),
    RELEASEMON_PREVIOUS_VERSION: "2026.11.24-3",
    RELEASEMON_PREVIOUS_VERSION_HASH: "e".repeat(64),
    RELEASEMON_VERSION_FILE: "/app/.version",
    RELEASEMON_PROGRAMS: "web workers:* batch:b1",
    RELEASEMON_OUTCOME: "partial",
    RELEASEMON_RESTARTED: "web batch:b1",
    RELEASEMON_FAILED: "workers:w1 workers:w2",
    RELEASEMON_FAILED_REASONS:
      "workers:w1: SPAWN_ERROR\nworkers:w2: ABNORMAL_TERMINATION exit status 1",
    RELEASEMON_UNTOUCHED: "",
    RELEASEMON_NOT_READY: "workers:w2",
    RELEASEMON_RECREATED: "",
    RELEASEMON_ADDED: "",
    RELEASEMON_REMOVED: "",
    RELEASEMON_REASON: "2 of 4 programs failed",
  });
});

Deno.test("hookEnvironment() leaves empty lists and reason empty after a clean restart", () => {
  const env = hookEnvironment("post", CONTEXT, {
    outcome: "success",
    restarted: ["web"],
    failed: [],
  });
  assert.deepEqual(
    [
      env.RELEASEMON_OUTCOME,
      env.RELEASEMON_FAILED,
      env.RELEASEMON_FAILED_REASONS,
      env.RELEASEMON_REASON,
    ],
    ["success", "", "", ""],
  );
});

Deno.test("hookEnvironment() passes a hostile label verbatim, only replacing NUL", () => {
  const label = "$(touch /tmp/pwned) `id` \"q\" 'q'; rm -rf / #\n\0end";
  const env = hookEnvironment("pre", { ...CONTEXT, version: { label, hash: "0".repeat(64) } });
  assert.equal(env.RELEASEMON_VERSION, "$(touch /tmp/pwned) `id` \"q\" 'q'; rm -rf / #\n\uFFFDend");
});

Deno.test("hookEnvironment() throws a TypeError for a post hook without an outcome", () => {
  assert.throws(() => hookEnvironment("post", CONTEXT), {
    name: "TypeError",
    message: "Cannot build the post-restart environment: no outcome given",
  });
});
