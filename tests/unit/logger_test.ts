import assert from "node:assert/strict";
import {
  configureLogger,
  getLogger,
  LOG_LEVELS,
  type LogLevel,
  type LogRecord,
  resetLogger,
  type Sink,
} from "../../lib/logger.ts";

/** The sink for the scope of a `using`: records land in `records`; disposal resets the core. */
function sinkInto(lowestLevel: LogLevel, sink?: Sink): { records: LogRecord[] } & Disposable {
  const records: LogRecord[] = [];
  configureLogger({ lowestLevel, sink: sink ?? ((record) => records.push(record)) });
  return { records, [Symbol.dispose]: resetLogger };
}

const METHODS = ["debug", "info", "warn", "warning", "error", "fatal"] as const;
/** The level each method logs at. */
const METHOD_LEVEL: Record<typeof METHODS[number], LogLevel> = {
  debug: "debug",
  info: "info",
  warn: "warning",
  warning: "warning",
  error: "error",
  fatal: "fatal",
};

Deno.test("getLogger() methods log at their level and drop what is below the lowest level", () => {
  for (const lowest of LOG_LEVELS) {
    using capture = sinkInto(lowest);
    const log = getLogger(["releasemon", "run"]);
    for (const method of METHODS) log[method](`via ${method}`);
    const expected = METHODS.filter((method) =>
      LOG_LEVELS.indexOf(METHOD_LEVEL[method]) >= LOG_LEVELS.indexOf(lowest)
    ).map((method) => [METHOD_LEVEL[method], `via ${method}`]);
    assert.deepEqual(capture.records.map((r) => [r.level, r.rawMessage]), expected, lowest);
  }
});

Deno.test("getLogger() keeps the category as every module writes it", () => {
  using capture = sinkInto("debug");
  const categories = [
    ["releasemon"],
    ...[
      "conf-file",
      "config",
      "fleet",
      "hook",
      "ready",
      "restart",
      "rollout",
      "rpc",
      "run",
      "transport",
      "watch",
    ].map((module) => ["releasemon", module]),
  ];
  for (const category of categories) getLogger(category).info("x");
  assert.deepEqual(capture.records.map((r) => r.category), categories);
  assert.deepEqual(getLogger(["releasemon", "hook"]).category, ["releasemon", "hook"]);
});

Deno.test("getLogger() copies the category, so changing the array later changes nothing", () => {
  using capture = sinkInto("debug");
  const category = ["releasemon", "watch"];
  const log = getLogger(category);
  category[1] = "changed";
  log.info("x");
  assert.deepEqual(capture.records[0]!.category, ["releasemon", "watch"]);
  assert.throws(() => (capture.records[0]!.category as string[]).push("y"), TypeError);
});

Deno.test("a record carries category, level, template, properties and the time it was logged", () => {
  using capture = sinkInto("debug");
  const before = Date.now();
  getLogger(["releasemon", "watch"]).info("Version {version} seen", { version: "v2", n: 1 });
  const after = Date.now();
  assert.equal(capture.records.length, 1);
  const { timestamp, ...rest } = capture.records[0]!;
  assert.deepEqual(rest, {
    category: ["releasemon", "watch"],
    level: "info",
    rawMessage: "Version {version} seen",
    properties: { version: "v2", n: 1 },
  });
  assert.ok(timestamp >= before && timestamp <= after, `${before} <= ${timestamp} <= ${after}`);
});

Deno.test("a record's properties are the caller's values, untouched, in the caller's order", () => {
  using capture = sinkInto("debug");
  const list = ["web", "workers:w1"];
  const error = new TypeError("Cannot connect", { cause: new Error("ENOENT") });
  const nested = { a: { b: [1, 2] } };
  const properties = {
    delayMs: 3000,
    ratio: -0.5,
    nan: NaN,
    big: 10n,
    list,
    empty: [],
    previous: null,
    missing: undefined,
    error,
    nested,
    text: "a\nb {version}",
  };
  const log = getLogger(["releasemon", "run"]);
  log.warning("Tried {delayMs}", properties);
  log.info("no properties {delayMs}");
  const logged = capture.records[0]!.properties;
  assert.deepEqual(Object.keys(logged), Object.keys(properties));
  for (const [key, value] of Object.entries(properties)) {
    assert.ok(Object.is(logged[key], value), key);
  }
  assert.ok(Object.hasOwn(logged, "missing"), "an undefined value keeps its key");
  assert.deepEqual(capture.records[1]!.properties, {});
  assert.equal(capture.records[1]!.rawMessage, "no properties {delayMs}");
});

Deno.test("a record keeps the properties as they were when logged (a shallow copy)", () => {
  using capture = sinkInto("debug");
  const properties: Record<string, unknown> = { attempt: 1, list: ["a"] };
  getLogger(["releasemon", "run"]).info("Attempt {attempt}", properties);
  properties.attempt = 2;
  properties.extra = true;
  assert.deepEqual(capture.records[0]!.properties, { attempt: 1, list: ["a"] });
  assert.equal(capture.records[0]!.properties.list, properties.list);
});

Deno.test("a call below the lowest level reads none of its properties", () => {
  using capture = sinkInto("info");
  let reads = 0;
  const properties = {
    get costly() {
      reads++;
      return "value";
    },
  };
  const log = getLogger(["releasemon", "rpc"]);
  log.debug("Call {costly}", properties);
  assert.equal(reads, 0);
  assert.equal(capture.records.length, 0);
  log.info("Call {costly}", properties);
  assert.equal(reads, 1);
  assert.deepEqual(capture.records[0]!.properties, { costly: "value" });
});

Deno.test("records logged before configureLogger() or after resetLogger() are dropped, not kept", () => {
  const log = getLogger(["releasemon", "run"]);
  log.error("before");
  {
    using capture = sinkInto("debug");
    log.info("during");
    assert.deepEqual(capture.records.map((r) => r.rawMessage), ["during"]);
  }
  log.error("after");
  using capture = sinkInto("debug");
  log.info("again");
  assert.deepEqual(capture.records.map((r) => r.rawMessage), ["again"]);
});

Deno.test("configureLogger() replaces the sink and the lowest level", () => {
  const first: LogRecord[] = [];
  const second: LogRecord[] = [];
  const log = getLogger(["releasemon", "run"]);
  try {
    configureLogger({ lowestLevel: "debug", sink: (record) => first.push(record) });
    log.debug("one");
    configureLogger({ lowestLevel: "warning", sink: (record) => second.push(record) });
    log.info("two");
    log.warn("three");
  } finally {
    resetLogger();
  }
  assert.deepEqual(first.map((r) => r.rawMessage), ["one"]);
  assert.deepEqual(second.map((r) => r.rawMessage), ["three"]);
});

Deno.test("configureLogger() rejects an unknown level and keeps the sink it had", () => {
  using capture = sinkInto("info");
  assert.throws(
    () => configureLogger({ lowestLevel: "verbose" as LogLevel, sink: () => {} }),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'Cannot configure logging: unknown level "verbose"; use one of debug, info, warning, ' +
          "error, fatal",
  );
  getLogger(["releasemon"]).info("still here");
  assert.deepEqual(capture.records.map((r) => r.rawMessage), ["still here"]);
});

Deno.test("a sink that throws gets an error record in place of the lost one; the caller goes on", () => {
  const received: LogRecord[] = [];
  const failure = new TypeError("cannot format");
  using _capture = sinkInto("debug", (record) => {
    received.push(record);
    if (record.rawMessage.startsWith("Version")) throw failure;
  });
  const log = getLogger(["releasemon", "watch"]);
  log.info("Version {version} seen", { version: "v1" });
  log.debug("next");
  assert.deepEqual(received.map((r) => [r.category, r.level, r.rawMessage]), [
    [["releasemon", "watch"], "info", "Version {version} seen"],
    [["releasemon", "log"], "error", "Cannot write a log record of {category}: {error}"],
    [["releasemon", "watch"], "debug", "next"],
  ]);
  assert.deepEqual(received[1]!.properties, {
    category: "releasemon.watch",
    level: "info",
    template: "Version {version} seen",
    error: failure,
  });
  assert.equal(received[1]!.properties.error, failure);
});

Deno.test("a sink that always throws never throws into the caller, and logging recovers", () => {
  let calls = 0;
  let failing = true;
  const kept: string[] = [];
  using _capture = sinkInto("debug", (record) => {
    calls++;
    if (failing) throw new Error("stderr is gone");
    kept.push(record.rawMessage);
  });
  const log = getLogger(["releasemon", "run"]);
  for (const method of METHODS) log[method]("lost");
  assert.equal(calls, METHODS.length * 2, "each record, then its error record, once");
  failing = false;
  log.info("back");
  assert.deepEqual(kept, ["back"]);
});

Deno.test("a throwing property getter is reported like a throwing sink", () => {
  using capture = sinkInto("debug");
  const broken = {
    get value(): string {
      throw new RangeError("no value");
    },
  };
  getLogger(["releasemon", "rpc"]).debug("Got {value}", broken);
  assert.equal(capture.records.length, 1);
  assert.equal(capture.records[0]!.rawMessage, "Cannot write a log record of {category}: {error}");
  assert.ok(capture.records[0]!.properties.error instanceof RangeError);
});

Deno.test("the error record honours the lowest level", () => {
  let calls = 0;
  using _capture = sinkInto("fatal", () => {
    calls++;
    throw new Error("boom");
  });
  getLogger(["releasemon"]).fatal("lost");
  assert.equal(calls, 1, "no error record below fatal");
});

Deno.test("a record logged from inside the sink is dropped, so a sink cannot loop", () => {
  const seen: string[] = [];
  const log = getLogger(["releasemon", "run"]);
  using _capture = sinkInto("debug", (record) => {
    seen.push(record.rawMessage);
    log.info(`echo of ${record.rawMessage}`);
  });
  log.info("outer");
  log.info("second");
  assert.deepEqual(seen, ["outer", "second"]);
});
