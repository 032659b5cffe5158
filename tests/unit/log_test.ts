import assert from "node:assert/strict";
import { quoteVersion, redact, setupLogging } from "../../lib/log.ts";
import { getLogger, resetLogger } from "../../lib/logger.ts";

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

/** Sets up logging into an array for the test's duration. */
function capture(
  options: {
    level?: "debug" | "info" | "warning" | "error";
    format?: "text" | "json";
    secrets?: string[];
  },
  fn: (lines: string[]) => void,
): void {
  const lines: string[] = [];
  setupLogging({
    level: options.level ?? "info",
    format: options.format ?? "text",
    secrets: options.secrets ?? [],
    write: (line) => lines.push(line),
  });
  try {
    fn(lines);
  } finally {
    resetLogger();
  }
}

/** The line without its timestamp, after checking the timestamp's shape. */
function untimed(line: string | undefined): string {
  assert.match(line ?? "", TIME);
  return (line ?? "").replace(TIME, "");
}

Deno.test("setupLogging() writes text lines with time, level, category, message and properties", () => {
  capture({}, (lines) => {
    const logger = getLogger(["releasemon", "watch"]);
    logger.info("Version {version} seen", {
      version: "v42",
      path: "/app/.version",
      delayMs: 5000,
      programs: ["web", "workers:w1"],
      note: "two words",
    });
    getLogger(["releasemon", "hook"]).warn("slow");
    getLogger(["releasemon"]).error("stopped");
    assert.deepEqual(lines.map(untimed), [
      'INFO  [watch] Version "v42" seen path=/app/.version delay="5 seconds" ' +
      'programs="web workers:w1" note="two words"',
      "WARN  [hook] slow",
      "ERROR [releasemon] stopped",
    ]);
  });
});

Deno.test("setupLogging() leaves a duration out of the text tail when the message shows it", () => {
  capture({}, (lines) => {
    getLogger(["releasemon", "ready"]).info("Ready {namespec} after {after}", {
      namespec: "web:a",
      after: "0.2 s",
      afterMs: 215,
    });
    assert.deepEqual(lines.map(untimed), ["INFO  [ready] Ready web:a after 0.2 s"]);
  });
});

Deno.test("setupLogging() keeps each record on one line and escapes control characters", () => {
  capture({}, (lines) => {
    const logger = getLogger(["releasemon", "hook"]);
    logger.info(`pre-restart: ${"line one\nFAKE INFO [x] forged\r\x1b[31mred\x07"}`);
    logger.info("detail", { output: "a\nb", bidi: "x\u202ey" });
    logger.info(`braces ${"{version}"} stay`);
    assert.equal(lines.length, 3);
    assert.equal(
      untimed(lines[0]),
      "INFO  [hook] pre-restart: line one\\nFAKE INFO [x] forged\\r\\u001b[31mred\\u0007",
    );
    assert.equal(untimed(lines[1]), 'INFO  [hook] detail output="a\\nb" bidi="x\\u202ey"');
    assert.equal(untimed(lines[2]), "INFO  [hook] braces {version} stay");
    assert.ok(lines.every((line) => !line.includes("\n") && !line.includes("\x1b")));
  });
});

Deno.test("setupLogging() drops records below the chosen level", () => {
  capture({ level: "warning" }, (lines) => {
    const logger = getLogger(["releasemon", "run"]);
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    assert.deepEqual(lines.map(untimed), ["WARN  [run] w", "ERROR [run] e"]);
  });
  capture({ level: "debug" }, (lines) => {
    getLogger(["releasemon", "run"]).debug("d");
    assert.deepEqual(lines.map(untimed), ["DEBUG [run] d"]);
  });
});

Deno.test("setupLogging() renders errors with their causes", () => {
  capture({}, (lines) => {
    const cause = new Error("connect ENOENT");
    const error = new TypeError("Cannot connect", { cause });
    getLogger(["releasemon", "run"]).error("Failed: {error}", { error, attempt: 3 });
    assert.equal(
      untimed(lines[0]),
      "ERROR [run] Failed: TypeError: Cannot connect; cause: Error: connect ENOENT attempt=3",
    );
  });
});

Deno.test("setupLogging() writes one JSON object per line in json format", () => {
  capture({ format: "json" }, (lines) => {
    getLogger(["releasemon", "restart"]).warning("Cannot start {namespec}: {reason}", {
      namespec: "workers:w2",
      reason: "SPAWN_ERROR",
      error: new Error("boom"),
      text: "a\u0085b\u2028c",
    });
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!);
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual({ ...entry, time: "" }, {
      time: "",
      level: "warning",
      category: "releasemon.restart",
      message: "Cannot start workers:w2: SPAWN_ERROR",
      properties: {
        namespec: "workers:w2",
        reason: "SPAWN_ERROR",
        error: { name: "Error", message: "boom" },
        text: "a\u0085b\u2028c",
      },
    });
    assert.ok(lines[0]!.includes("a\\u0085b\\u2028c"), "separators escaped in the raw line");
  });
});

Deno.test("setupLogging() keeps raw values in JSON properties and shows them for people in messages", () => {
  for (const format of ["text", "json"] as const) {
    capture({ format }, (lines) => {
      getLogger(["releasemon", "machine"]).info(
        "New version {version} (was {previous}); restarting in {delayMs}: {programs}",
        { version: "v3", previous: null, delayMs: 3000, programs: ["web", "workers:w1"], n: 2 },
      );
      if (format === "text") {
        assert.equal(
          untimed(lines[0]),
          'INFO  [machine] New version "v3" (was none); restarting in 3 seconds: web workers:w1 n=2',
        );
        return;
      }
      const entry = JSON.parse(lines[0]!);
      assert.equal(
        entry.message,
        'New version "v3" (was none); restarting in 3 seconds: web workers:w1',
      );
      assert.deepEqual(entry.properties, {
        version: "v3",
        previous: null,
        delayMs: 3000,
        programs: ["web", "workers:w1"],
        n: 2,
      });
    });
  }
});

Deno.test("setupLogging() redacts secrets from the finished line in both formats", () => {
  const secret = 'pa"ss wörd';
  for (const format of ["text", "json"] as const) {
    capture({ format, secrets: [secret, ""] }, (lines) => {
      const logger = getLogger(["releasemon", "transport"]);
      logger.info(`password is ${secret}`);
      logger.info("sending", { password: secret, header: "Authorization: Basic dXNlcjpwYXNz" });
      logger.error("failed", { error: new Error(`bad credentials ${secret}`) });
      logger.info("url {url}", { url: "http://alice:hunter2@localhost:9001/RPC2" });
      logger.info("token url https://hunter2@localhost:9001 and redis://:hunter2@cache/0");
      assert.equal(lines.length, 5, format);
      for (const line of lines) {
        assert.ok(!line.includes('pa"ss') && !line.includes('pa\\"ss'), `${format}: ${line}`);
        assert.ok(
          !line.includes("dXNlcjpwYXNz") && !line.includes("hunter2"),
          `${format}: ${line}`,
        );
      }
      assert.ok(lines[0]!.includes("password is ***"), lines[0]);
      assert.ok(lines[1]!.includes("Authorization: Basic ***"), lines[1]);
      assert.ok(lines[3]!.includes("http://***@localhost:9001/RPC2"), lines[3]);
      assert.ok(
        lines[4]!.includes("https://***@localhost:9001 and redis://***@cache/0"),
        lines[4],
      );
      if (format === "json") lines.forEach((line) => JSON.parse(line));
    });
  }
});

Deno.test("redact() replaces every secret, the longest first, and Authorization values", () => {
  assert.equal(redact("a hunter2 b hunter2", ["hunter2"]), "a *** b ***");
  assert.equal(redact("token abc and abcdef", ["abc", "abcdef"]), "token *** and ***");
  assert.equal(redact("nothing", ["", "zzz"]), "nothing");
  assert.equal(redact('{"p":"x\\"y"}', ['x"y']), '{"p":"***"}');
  assert.equal(redact("authorization: basic Zm9vOmJhcg==", []), "authorization: basic ***");
  assert.equal(redact("Authorization:Basic Zm9v, next", []), "Authorization:Basic ***, next");
  assert.equal(redact("unix:///run/supervisor.sock", []), "unix:///run/supervisor.sock");
});

Deno.test("quoteVersion() quotes, escapes and caps a version label", () => {
  assert.equal(quoteVersion("v1.2.3"), '"v1.2.3"');
  assert.equal(quoteVersion('$(touch /tmp/x) `id` "q"'), '"$(touch /tmp/x) `id` \\"q\\""');
  assert.equal(quoteVersion("a\nb\x1b[2J\u202e\x7f"), '"a\\nb\\u001b[2J\\u202e\\u007f"');
  assert.equal(quoteVersion(""), '""');
  const long = "é".repeat(100);
  assert.equal(quoteVersion(long), `"${"é".repeat(80)}"… (100 characters)`);
  assert.equal(quoteVersion("😀".repeat(81)), `"${"😀".repeat(80)}"… (81 characters)`);
});

Deno.test("setupLogging() shows a template logged without properties as written, in both formats", () => {
  const hookLine = "post-restart: {version} {{x}} done\x1b[2J";
  capture({}, (lines) => {
    getLogger(["releasemon", "hook"]).warn(hookLine);
    assert.deepEqual(lines.map(untimed), [
      "WARN  [hook] post-restart: {version} {{x}} done\\u001b[2J",
    ]);
  });
  capture({ format: "json" }, (lines) => {
    getLogger(["releasemon", "hook"]).info(hookLine);
    const { time: _time, ...entry } = JSON.parse(lines[0]!);
    assert.deepEqual(entry, {
      level: "info",
      category: "releasemon.hook",
      message: hookLine,
      properties: {},
    });
  });
});

Deno.test("setupLogging() writes each record's time as Date#toISOString does, in both formats", () => {
  const edges = [
    0,
    -1,
    951_782_400_000, // 2000-02-29
    1_709_251_199_999, // 2024-02-29T23:59:59.999Z
    -62_167_219_200_000, // year 0
    253_402_300_799_999, // 9999-12-31T23:59:59.999Z
    253_402_300_800_000, // year 10000: toISOString's own +YYYYYY form
    -62_167_219_200_001, // year -1
  ];
  let seed = 12345;
  const spread = Array.from({ length: 500 }, () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * 4_102_444_800_000); // 1970 to 2100
  });
  const times = [...edges, ...spread];
  const realNow = Date.now;
  try {
    for (const format of ["text", "json"] as const) {
      capture({ format }, (lines) => {
        for (const time of times) {
          Date.now = () => time;
          getLogger(["releasemon"]).info("tick");
        }
        Date.now = realNow;
        const shown = lines.map((line) =>
          format === "json" ? JSON.parse(line).time : line.slice(0, line.indexOf(" "))
        );
        assert.deepEqual(shown, times.map((time) => new Date(time).toISOString()), format);
      });
    }
  } finally {
    Date.now = realNow;
  }
});

Deno.test("setupLogging() writes an error line in place of a record it cannot format", () => {
  const unwritable = {
    toJSON() {
      throw new TypeError("Cannot serialise the fleet");
    },
  };
  for (const format of ["text", "json"] as const) {
    capture({ format, secrets: ["hunter2"] }, (lines) => {
      const logger = getLogger(["releasemon", "fleet"]);
      logger.info("Joined {fleet} as hunter2", { fleet: unwritable });
      logger.info("next");
      assert.equal(lines.length, 2, format);
      if (format === "text") {
        assert.deepEqual(lines.map(untimed), [
          "ERROR [log] Cannot write a log record of releasemon.fleet: TypeError: Cannot serialise " +
          'the fleet level=info template="Joined {fleet} as ***"',
          "INFO  [fleet] next",
        ]);
        return;
      }
      const { time: _time, ...entry } = JSON.parse(lines[0]!);
      assert.deepEqual(entry, {
        level: "error",
        category: "releasemon.log",
        message:
          "Cannot write a log record of releasemon.fleet: TypeError: Cannot serialise the fleet",
        properties: {
          category: "releasemon.fleet",
          level: "info",
          template: "Joined {fleet} as ***",
          error: { name: "TypeError", message: "Cannot serialise the fleet" },
        },
      });
    });
  }
});
