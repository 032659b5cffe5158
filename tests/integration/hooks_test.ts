/**
 * runHook() against a real `sh`: environment, injection safety, exit codes, timeouts that take
 * grandchildren down, streamed output, bounded memory, and the restricted `--allow-run=sh` case.
 */
import assert from "node:assert/strict";
import {
  HOOK_KILL_GRACE_MS,
  type HookContext,
  hookEnvironment,
  MAX_HOOK_LINE_BYTES,
  runHook,
} from "../../lib/hooks.ts";
import { renderMessage } from "../../lib/log.ts";
import type { LogRecord } from "../../lib/logger.ts";
import { FakeClock } from "../support/fake_clock.ts";
import { withLog } from "../support/log_capture.ts";

const CONTEXT: HookContext = {
  version: { label: "v2", hash: "b".repeat(64) },
  previous: { label: "v1", hash: "a".repeat(64) },
  versionFile: "/app/.version",
  programs: ["web", "workers:w1"],
};

/** A temporary directory for one test, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "releasemon-hooks-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The rendered message of a record. */
function text(record: LogRecord): string {
  return renderMessage(record);
}

/** True once `pid` no longer runs (gone, or a zombie nobody has reaped yet). */
async function isDead(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}

async function waitUntilDead(pid: number, deadlineMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await isDead(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return isDead(pid);
}

/** Reads a NUL-separated `env -0` dump into a record of the RELEASEMON_ variables. */
function releasemonVariables(dump: string): Record<string, string> {
  const entries = dump.split("\0").filter((entry) => entry.startsWith("RELEASEMON_"));
  return Object.fromEntries(entries.map((entry) => {
    const at = entry.indexOf("=");
    return [entry.slice(0, at), entry.slice(at + 1)];
  }));
}

Deno.test("runHook() gives the hook exactly the RELEASEMON_ variables plus its own environment", async () => {
  await withTempDir(async (dir) => {
    const outcome = {
      outcome: "partial" as const,
      restarted: ["web"],
      failed: [{ namespec: "workers:w1", reason: "SPAWN_ERROR\nsee log" }],
      reason: "1 of 2 failed",
    };
    const env = hookEnvironment("post", CONTEXT, outcome);
    const result = await runHook("post", `env -0 > "${dir}/env"`, env, { timeoutMs: 10_000 });
    assert.equal(result.ok, true);
    assert.deepEqual([result.exitCode, result.signal, result.timedOut], [0, null, false]);
    const dump = await Deno.readTextFile(`${dir}/env`);
    assert.deepEqual(releasemonVariables(dump), {
      RELEASEMON_HOOK: "post",
      RELEASEMON_VERSION: "v2",
      RELEASEMON_VERSION_HASH: "b".repeat(64),
      RELEASEMON_PREVIOUS_VERSION: "v1",
      RELEASEMON_PREVIOUS_VERSION_HASH: "a".repeat(64),
      RELEASEMON_VERSION_FILE: "/app/.version",
      RELEASEMON_PROGRAMS: "web workers:w1",
      RELEASEMON_OUTCOME: "partial",
      RELEASEMON_RESTARTED: "web",
      RELEASEMON_FAILED: "workers:w1",
      RELEASEMON_FAILED_REASONS: "workers:w1: SPAWN_ERROR see log",
      RELEASEMON_UNTOUCHED: "",
      RELEASEMON_NOT_READY: "",
      RELEASEMON_RECREATED: "",
      RELEASEMON_ADDED: "",
      RELEASEMON_REMOVED: "",
      RELEASEMON_REASON: "1 of 2 failed",
    });
    assert.ok(dump.split("\0").some((entry) => entry.startsWith("PATH=")), "inherits PATH");
  });
});

Deno.test("runHook() keeps the supervisord and fleet passwords out of the hook's environment", async () => {
  const inherited = {
    SUPERVISOR_PASSWORD: "hook-must-not-see-1",
    RELEASEMON_FLEET_PASSWORD: "hook-must-not-see-2",
    SUPERVISOR_USERNAME: "admin",
  };
  const saved = Object.keys(inherited).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(inherited)) Deno.env.set(name, value);
  try {
    await withTempDir(async (dir) => {
      const env = hookEnvironment("pre", CONTEXT);
      const result = await runHook("pre", `env -0 > "${dir}/env"`, env, { timeoutMs: 10_000 });
      assert.equal(result.ok, true, result.reason);
      const dump = await Deno.readTextFile(`${dir}/env`);
      assert.ok(!dump.includes("hook-must-not-see"), "no password value reaches the hook");
      const names = dump.split("\0").map((entry) => entry.slice(0, entry.indexOf("=")));
      assert.ok(!names.includes("SUPERVISOR_PASSWORD"));
      assert.ok(!names.includes("RELEASEMON_FLEET_PASSWORD"));
      assert.ok(dump.split("\0").includes("SUPERVISOR_USERNAME=admin"), "not secret: kept");
      assert.equal(releasemonVariables(dump).RELEASEMON_VERSION, "v2");
    });
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
});

Deno.test("runHook() passes a hostile version label as data, never as code", async () => {
  await withTempDir(async (dir) => {
    const label = `$(touch ${dir}/pwned1) \`touch ${dir}/pwned2\` "; touch ${dir}/pwned3; '` +
      `; touch ${dir}/pwned4 #`;
    const context = { ...CONTEXT, version: { label, hash: "c".repeat(64) } };
    const env = hookEnvironment("pre", context);
    const commands = [
      `printf '%s' "$RELEASEMON_VERSION" > "${dir}/label"`,
      "echo $RELEASEMON_VERSION", // unquoted: split into words, still never run
    ];
    for (const command of commands) {
      const result = await runHook("pre", command, env, { timeoutMs: 10_000 });
      assert.equal(result.ok, true, command);
    }
    assert.equal(await Deno.readTextFile(`${dir}/label`), label);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["label"]);
  });
});

Deno.test("runHook() reports a non-zero exit and a command that cannot start", async () => {
  const failed = await runHook("pre", "exit 3", {}, { timeoutMs: 10_000 });
  assert.deepEqual(
    { ...failed, durationMs: 0 },
    {
      ok: false,
      exitCode: 3,
      signal: null,
      timedOut: false,
      durationMs: 0,
      reason: "exited with status 3",
    },
  );
  const missing = await runHook("pre", "/nonexistent/hook", {}, { timeoutMs: 10_000 });
  assert.deepEqual([missing.ok, missing.exitCode, missing.reason], [
    false,
    127,
    "exited with status 127",
  ]);
  const unstartable = await runHook("pre", "true", { "BAD\0NAME": "x" }, { timeoutMs: 10_000 });
  assert.equal(unstartable.ok, false);
  assert.equal(unstartable.exitCode, null);
  assert.match(unstartable.reason ?? "", /^cannot start "sh": /);
  const aborted = new AbortController();
  aborted.abort();
  const cancelled = await runHook("pre", "true", {}, { timeoutMs: 1_000, signal: aborted.signal });
  assert.deepEqual([cancelled.ok, cancelled.reason], [false, "cancelled before it started"]);
  await assert.rejects(runHook("pre", "true", {}, { timeoutMs: 0 }), RangeError);
});

Deno.test("runHook() stops a hook at its timeout, grandchildren included", async () => {
  await withTempDir(async (dir) => {
    const command = `sleep 100 & echo $! > "${dir}/pid"; sh -c 'sleep 100; echo never'`;
    const result = await runHook("pre", command, {}, { timeoutMs: 300 });
    assert.deepEqual(
      [result.ok, result.timedOut, result.signal, result.exitCode, result.reason],
      [false, true, "SIGTERM", null, "timed out after 300 ms"],
    );
    assert.ok(
      result.durationMs >= 300 && result.durationMs < HOOK_KILL_GRACE_MS,
      `${result.durationMs}`,
    );
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    assert.ok(await waitUntilDead(pid), `grandchild ${pid} is gone`);
  });
});

Deno.test("runHook() sends SIGKILL after the grace period when SIGTERM is ignored", async () => {
  await withTempDir(async (dir) => {
    // Ignored signals stay ignored across exec, so the sleep ignores SIGTERM too.
    const command = `trap '' TERM; sleep 100 & echo $! > "${dir}/pid"; wait`;
    const result = await runHook("pre", command, {}, { timeoutMs: 200 });
    assert.deepEqual([result.ok, result.timedOut, result.signal], [false, true, "SIGKILL"]);
    assert.ok(result.durationMs >= 200 + HOOK_KILL_GRACE_MS - 50, `${result.durationMs}`);
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    assert.ok(await waitUntilDead(pid), `grandchild ${pid} is gone`);
  });
});

Deno.test("runHook() times the timeout and the SIGKILL grace on its clock", async () => {
  await withTempDir(async (dir) => {
    using clock = new FakeClock(0);
    const command = `trap '' TERM; sleep 100 & echo $! > "${dir}/pid"; wait`;
    const running = runHook("pre", command, {}, { timeoutMs: 3_600_000, clock });
    // The trap is set once the pid is written: only then does the hour pass, on the fake clock.
    const pid = await readWhenWritten(`${dir}/pid`);
    clock.tick(3_600_000); // SIGTERM, ignored
    clock.tick(HOOK_KILL_GRACE_MS); // SIGKILL
    const result = await withinRealTime(running, 30_000);
    assert.deepEqual(
      [result.ok, result.timedOut, result.signal, result.reason, result.durationMs],
      [false, true, "SIGKILL", "timed out after 60 minutes", 3_600_000 + HOOK_KILL_GRACE_MS],
    );
    assert.ok(await waitUntilDead(pid), `grandchild ${pid} is gone`);
  });
});

/** The number in `path` once a hook has written it, within 10 s of real time. */
async function readWhenWritten(path: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(path).catch(() => "");
    if (text.endsWith("\n")) return Number(text);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Cannot read "${path}": not written within 10 seconds`);
}

/** `promise`, or a rejection when it takes longer than `ms` of real time. */
async function withinRealTime<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Still running after ${ms} ms of real time`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("runHook() stops a hook when its AbortSignal fires", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    const command = `sleep 100 & echo $! > "${dir}/pid"; wait`;
    const running = runHook("post", command, {}, { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const result = await running;
    assert.deepEqual(
      [result.ok, result.timedOut, result.signal, result.reason],
      [false, false, "SIGTERM", "cancelled"],
    );
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    assert.ok(await waitUntilDead(pid), `grandchild ${pid} is gone`);
  });
});

Deno.test("runHook() logs each output line, stdout as info and stderr as warning", async () => {
  await withLog(async (records) => {
    const command = [
      "printf 'hello\\r\\nsecond {braces}\\n'",
      "echo oops >&2",
      `head -c ${MAX_HOOK_LINE_BYTES + 1000} /dev/zero | tr '\\0' x; echo`,
      "printf '\\377\\376\\000bin\\033[2Jary\\n'",
      "printf 'no newline at end'",
    ].join("; ");
    const result = await runHook("pre", command, {}, { timeoutMs: 10_000 });
    assert.equal(result.ok, true);
    const lines = records.map((record) => [record.level, text(record)]);
    const cut = `pre-restart: ${"x".repeat(MAX_HOOK_LINE_BYTES)}… (line cut, ${
      MAX_HOOK_LINE_BYTES + 1000
    } bytes)`;
    assert.deepEqual(lines.filter(([level]) => level === "info"), [
      ["info", "pre-restart: hello"],
      ["info", "pre-restart: second {braces}"],
      ["info", cut],
      ["info", "pre-restart: \uFFFD\uFFFD\0bin\x1b[2Jary"],
      ["info", "pre-restart: no newline at end"],
    ]);
    assert.deepEqual(lines.filter(([level]) => level !== "info"), [[
      "warning",
      "pre-restart: oops",
    ]]);
    assert.deepEqual(records[0]!.category, ["releasemon", "hook"]);
  }, { lowestLevel: "info" });
});

Deno.test("runHook() streams 64 MB of output, holding none of it", async () => {
  // Memory is measured in a child run with --expose-gc, after full collections and at a point the
  // hook itself marks: it has written a 32 MB line without its newline (stdout), says so on
  // stderr, and waits. A hook module that streams holds one capped line (4 KB) by then; one that
  // buffers output or whole lines holds 32 MB. Garbage does not count, so the margin is wide.
  await withTempDir(async (dir) => {
    const blockBytes = 32 * 1024 * 1024;
    const command = `head -c ${blockBytes} /dev/zero | tr '\\0' x; echo MARKER >&2; ` +
      `while [ ! -e "${dir}/release" ]; do sleep 0.05; done; echo; ` +
      `yes 'line of hook output 0123456789' | head -c ${blockBytes}`;
    const hooksUrl = new URL("../../lib/hooks.ts", import.meta.url).href;
    const loggerUrl = new URL("../../lib/logger.ts", import.meta.url).href;
    const script = `${dir}/stream.ts`;
    await Deno.writeTextFile(
      script,
      `import { configureLogger } from ${JSON.stringify(loggerUrl)};
import { runHook } from ${JSON.stringify(hooksUrl)};
let marked = () => {};
const marker = new Promise((resolve) => marked = resolve);
let lines = 0;
let longest = 0;
configureLogger({
  lowestLevel: "info",
  sink: (record) => {
    const line = record.rawMessage.slice(record.rawMessage.indexOf(": ") + 2);
    lines++;
    longest = Math.max(longest, line.length);
    if (line === "MARKER") marked();
  },
});
const live = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const { heapUsed, external } = Deno.memoryUsage();
  return heapUsed + external;
};
const baseline = await live();
const hook = runHook("post", ${JSON.stringify(command)}, {}, { timeoutMs: 120000 });
let timer;
const late = new Promise((resolve) => timer = setTimeout(() => resolve(false), 30000));
const streamed = await Promise.race([marker.then(() => true), hook.then(() => false), late]);
clearTimeout(timer);
const heldBytes = streamed ? await live() - baseline : -1;
await Deno.writeTextFile(${JSON.stringify(`${dir}/release`)}, "");
const result = await hook;
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ streamed, heldBytes, ok: result.ok, lines, longest }) + "\\n"));
`,
    );
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--frozen",
        "--config",
        config,
        "--allow-run=sh",
        "--allow-write",
        "--v8-flags=--expose-gc",
        script,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const report = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.equal(report.ok, true);
    assert.equal(report.streamed, true, "the hook's output was logged while it still ran");
    assert.ok(report.heldBytes < 8 * 1024 * 1024, `held ${report.heldBytes} bytes of output`);
    // The cut 32 MB line, MARKER, and about 1 million short lines.
    assert.ok(report.lines > 1_000_000, `${report.lines} lines`);
    assert.ok(report.longest < MAX_HOOK_LINE_BYTES + 100, `longest line ${report.longest}`);
  });
});

Deno.test("runHook() works with only --allow-run=sh and a narrow --allow-env", async () => {
  await withTempDir(async (dir) => {
    const script = `${dir}/restricted.ts`;
    const hooksUrl = new URL("../../lib/hooks.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { runHook } from ${JSON.stringify(hooksUrl)};
const env = { RELEASEMON_VERSION: "v9" };
const plain = await runHook("pre", 'printf "%s|%s" "$RELEASEMON_VERSION" "$INHERITED_MARKER" > ${dir}/plain', env, { timeoutMs: 10000 });
const slow = await runHook("pre", 'sleep 100 & echo $! > ${dir}/pid; wait', env, { timeoutMs: 300 });
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify({ plain, slow }) + "\\n"));
`,
    );
    const config = new URL("../../deno.json", import.meta.url).pathname;
    const run = async (permissions: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--frozen", "--config", config, ...permissions, script],
        env: { INHERITED_MARKER: "from-parent", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      return JSON.parse(new TextDecoder().decode(output.stdout));
    };
    const restricted = await run(["--allow-run=sh", "--allow-env=SUPERVISOR_SERVER_URL"]);
    assert.equal(restricted.plain.ok, true);
    assert.equal(await Deno.readTextFile(`${dir}/plain`), "v9|from-parent");
    assert.deepEqual(
      [restricted.slow.ok, restricted.slow.timedOut, restricted.slow.signal],
      [false, true, "SIGTERM"],
    );
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    assert.ok(await waitUntilDead(pid), `grandchild ${pid} is gone under --allow-run=sh`);

    const withoutSh = await run(["--allow-run=true"]);
    assert.equal(withoutSh.plain.ok, false);
    assert.match(withoutSh.plain.reason, /^cannot start "sh": NotCapable: /);
  });
});
