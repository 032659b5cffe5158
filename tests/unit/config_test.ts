import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { type Config, DEFAULT_SERVER_URL, parseConfig, VERSION } from "../../lib/config.ts";
import { UsageError } from "../../lib/errors.ts";

const ENV = { SUPERVISOR_SERVER_URL: "unix:///tmp/supervisor.sock" };
const ESC = "\x1b";

function run(argv: string[], env: Record<string, string | undefined> = ENV): Config {
  const result = parseConfig(argv, env, { color: false });
  assert.equal(result.kind, "run");
  return (result as { config: Config }).config;
}

function usageError(argv: string[], env: Record<string, string | undefined> = ENV): UsageError {
  let caught: unknown;
  try {
    parseConfig(argv, env, { color: false });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError for ${JSON.stringify(argv)}`);
  return caught;
}

Deno.test("parseConfig() fills every default when given only PATH and PROG", () => {
  assert.deepEqual(run(["/app/.version", "web"]), {
    versionFile: "/app/.version",
    programs: ["web"],
    groups: [],
    any: false,
    enabled: true,
    fixedDelayMs: 0,
    randomDelayMs: 0,
    runningOnly: false,
    preRestart: null,
    postRestart: null,
    hookTimeoutMs: 60_000,
    serverUrl: "unix:///tmp/supervisor.sock",
    username: null,
    password: null,
    passwordFile: null,
    rpcTimeoutMs: 10_000,
    settleMs: 200,
    recheckMs: 10_000,
    pollMs: null,
    logLevel: "info",
    logFormat: "text",
    batchSize: null,
    startTimeoutMs: 60_000,
    catchUp: true,
    revive: false,
    dryRun: false,
    updateConfig: false,
    readyCheck: null,
    readyUrl: null,
    readyIntervalMs: 500,
    readyTimeoutMs: 60_000,
    configurationFile: null,
    serverUrlExplicit: false,
    usernameExplicit: false,
    fleet: null,
    fleetMode: null,
    check: false,
    status: false,
    selfProcessName: null,
    selfGroupName: null,
  });
});

Deno.test(
  "parseConfig() reads --check and --status, which need PATH and are not allowed together",
  () => {
    assert.equal(run(["--check", "/v", "web"]).check, true);
    assert.equal(run(["/v", "-g", "web", "--status"]).status, true);
    assert.throws(() => run(["--check"]), /required: PATH/);
    assert.throws(() => run(["--check", "--status", "/v", "web"]), /--status: not allowed with/);
  },
);

Deno.test("parseConfig() reads the readiness flags; --ready-check and --ready-url exclude each other", () => {
  const check = run([
    "/v",
    "-g",
    "workers",
    "--ready-check",
    "test -e /run/$RELEASEMON_PROGRAM_NAME",
  ]);
  assert.equal(check.readyCheck, "test -e /run/$RELEASEMON_PROGRAM_NAME");
  assert.equal(check.readyUrl, null);
  const url = run([
    "/v",
    "-g",
    "workers",
    "--ready-url",
    "http://127.0.0.1:8080/health/{group}/{name}",
    "--ready-interval",
    "0.25",
    "--ready-timeout",
    "5",
  ]);
  assert.equal(url.readyUrl, "http://127.0.0.1:8080/health/{group}/{name}");
  assert.equal(url.readyCheck, null);
  assert.equal(url.readyIntervalMs, 250);
  assert.equal(url.readyTimeoutMs, 5_000);
  const port = run(["/v", "-g", "workers", "--ready-url", "http://127.0.0.1:{name}/health"]);
  assert.equal(port.readyUrl, "http://127.0.0.1:{name}/health");
  assert.equal(
    usageError(["/v", "-a", "--ready-check", "true", "--ready-url", "http://127.0.0.1/"]).message,
    "argument --ready-url: not allowed with argument --ready-check",
  );
  assert.match(
    usageError(["/v", "-a", "--ready-url", "ftp://host/x"]).message,
    /argument --ready-url: invalid URL "ftp:\/\/host\/x": must start with http:\/\/ or https:\/\//,
  );
  assert.match(
    usageError(["/v", "-a", "--ready-url", "http://u:secret@h/"]).message,
    /no credentials/,
  );
  assert.doesNotMatch(
    usageError(["/v", "-a", "--ready-url", "http://u:secret@h/"]).message,
    /secret/,
  );
  assert.match(
    usageError(["/v", "-a", "--ready-timeout", "0"]).message,
    /argument --ready-timeout: must be a positive number of seconds, got "0"/,
  );
  assert.match(usageError(["/v", "-a", "--ready-check", ""]).message, /must not be empty/);
});

Deno.test("parseConfig() reads the rolling, catch-up, revive, dry-run and -c flags", () => {
  const config = run([
    "/v",
    "-a",
    "--batch-size",
    "2",
    "--start-timeout",
    "30",
    "--no-catch-up",
    "--revive",
    "--dry-run",
    "-c",
    "/etc/supervisor/supervisord.conf",
  ]);
  assert.equal(config.batchSize, 2);
  assert.equal(config.startTimeoutMs, 30_000);
  assert.equal(config.catchUp, false);
  assert.equal(config.revive, true);
  assert.equal(config.dryRun, true);
  assert.equal(config.configurationFile, "/etc/supervisor/supervisord.conf");
  assert.equal(run(["/v", "-a", "--rolling"]).batchSize, 1);
  assert.match(
    usageError(["/v", "-a", "--batch-size", "0"]).message,
    /argument --batch-size: must be a whole number of programs, 1 or more, got "0"/,
  );
});

Deno.test("parseConfig() accepts options and positionals in any order", () => {
  const orderings = [
    ["-e", "1", "/app/.version", "app1", "app2", "-g", "workers"],
    ["/app/.version", "app1", "app2", "-e", "1", "-g", "workers"],
    ["/app/.version", "app1", "-e", "1", "app2", "-g", "workers"],
    ["-g", "workers", "/app/.version", "-e", "1", "app1", "app2"],
    ["/app/.version", "-g", "workers", "app1", "-e", "1", "app2"],
    ["-g=workers", "--enable=1", "/app/.version", "app1", "app2"],
    ["/app/.version", "app1", "app2", "-g", "workers", "-e1"],
    ["-rd", "3", "/app/.version", "-e", "1", "app1", "-fd", "2", "app2", "-g", "workers"],
  ];
  for (const argv of orderings) {
    const config = run(argv);
    const picked = [config.versionFile, config.programs, config.groups, config.enabled];
    assert.deepEqual(
      picked,
      ["/app/.version", ["app1", "app2"], ["workers"], true],
      argv.join(" "),
    );
  }
  assert.deepEqual(run(["/app/.version", "app1", "-e", "1"]).programs, ["app1"]);
});

Deno.test("parseConfig() converts delays in seconds to milliseconds", () => {
  const both = run(["-rd", "10", "-fd", "5", "/v", "web"]);
  assert.deepEqual([both.randomDelayMs, both.fixedDelayMs], [10_000, 5_000]);
  assert.equal(run(["--random-delay=10", "/v", "web"]).randomDelayMs, 10_000);
  assert.equal(run(["--fixed-delay", "0.25", "/v", "web"]).fixedDelayMs, 250);
  assert.equal(run(["-fd", ".5", "/v", "web"]).fixedDelayMs, 500);
  assert.equal(run(["-rd", " 7 ", "/v", "web"]).randomDelayMs, 7_000);
  const timing = run([
    "--settle=0.05",
    "--recheck-interval=0",
    "--poll-interval=2.5",
    "--rpc-timeout=3",
    "--hook-timeout=1.5",
    "/v",
    "web",
  ]);
  assert.deepEqual(
    [timing.settleMs, timing.recheckMs, timing.pollMs, timing.rpcTimeoutMs, timing.hookTimeoutMs],
    [50, 0, 2_500, 3_000, 1_500],
  );
  assert.match(
    usageError(["--settle", "0", "/v", "web"]).message,
    /argument --settle: must be between 0.01 and 5 seconds, got "0"/,
  );
  assert.match(
    usageError(["-g", "workers", "web", "/app/.version"]).message,
    /argument PROG: "\/app\/.version" looks like a path, not a program name/,
  );
});

Deno.test("parseConfig() reads hook commands, --running-only and logging flags", () => {
  const config = run([
    "-pre",
    "echo hi",
    "--post-restart=notify $RELEASEMON_OUTCOME",
    "--running-only",
    "--log-level",
    "debug",
    "--log-format",
    "json",
    "/v",
    "web",
  ]);
  assert.equal(config.preRestart, "echo hi");
  assert.equal(config.postRestart, "notify $RELEASEMON_OUTCOME");
  assert.equal(config.runningOnly, true);
  assert.deepEqual([config.logLevel, config.logFormat], ["debug", "json"]);
  assert.equal(run(["-post", "echo bye", "/v", "web"]).postRestart, "echo bye");
});

Deno.test("parseConfig() reads -e and --disable flags the way superfsmon does", () => {
  const cases: [string[], boolean][] = [
    [[], true],
    [["--disable"], false],
    [["--disable", "0"], true],
    [["--disable", "yes"], false],
    [["--disable=ON"], false],
    [["--disable", "off"], true],
    [["-e", "TRUE"], true],
    [["-e", "1"], true],
    [["-e", "0"], false],
    [["-e", " no "], false],
    [["--enable", "Yes"], true],
    [["--enable=false"], false],
  ];
  for (const [flags, enabled] of cases) {
    assert.equal(run(["/v", "web", ...flags]).enabled, enabled, flags.join(" "));
  }
});

Deno.test("parseConfig() accepts namespecs, group:* and -a, dropping duplicates", () => {
  const config = run(["/v", "web", "workers:w1", "batch:*", "web", "-g", "g1", "-g", "g1"]);
  assert.deepEqual(config.programs, ["web", "workers:w1", "batch:*"]);
  assert.deepEqual(config.groups, ["g1"]);
  const any = run(["-a", "/v"], {
    ...ENV,
    SUPERVISOR_PROCESS_NAME: "rm",
    SUPERVISOR_GROUP_NAME: "g",
  });
  assert.deepEqual([any.any, any.programs, any.groups], [true, [], []]);
  assert.deepEqual([any.selfProcessName, any.selfGroupName], ["rm", "g"]);
});

Deno.test("parseConfig() takes the connection from flags, then the environment", () => {
  const env = {
    SUPERVISOR_SERVER_URL: "http://127.0.0.1:9001",
    SUPERVISOR_USERNAME: "alice",
    SUPERVISOR_PASSWORD: "s3cret",
  };
  const fromEnv = run(["/v", "web"], env);
  assert.deepEqual(
    [fromEnv.serverUrl, fromEnv.username, fromEnv.password, fromEnv.passwordFile],
    ["http://127.0.0.1:9001", "alice", "s3cret", null],
  );
  const fromFlags = run(
    ["-s", "unix:///run/s.sock", "-u", "bob", "--password-file", "/etc/pw", "/v", "web"],
    env,
  );
  assert.deepEqual(
    [fromFlags.serverUrl, fromFlags.username, fromFlags.password, fromFlags.passwordFile],
    ["unix:///run/s.sock", "bob", "s3cret", "/etc/pw"],
  );
  assert.equal(run(["/v", "web"], {}).serverUrl, DEFAULT_SERVER_URL);
  assert.equal(run(["/v", "web"], { SUPERVISOR_SERVER_URL: "" }).serverUrl, DEFAULT_SERVER_URL);
  assert.equal(DEFAULT_SERVER_URL, "unix:///var/run/supervisor.sock");
  assert.deepEqual([run(["/v", "web"], { SUPERVISOR_USERNAME: "" }).username], [null]);
});

Deno.test("parseConfig() throws a UsageError naming the problem for bad input", () => {
  const cases: [string[], string][] = [
    [
      ["-rd", "-5", "/v", "web"],
      'argument -rd/--random-delay: must be a non-negative number of seconds, got "-5"',
    ],
    [
      ["-rd", "abc", "/v", "web"],
      'argument -rd/--random-delay: must be a non-negative number of seconds, got "abc"',
    ],
    [
      ["-fd", "inf", "/v", "web"],
      'argument -fd/--fixed-delay: must be a non-negative number of seconds, got "inf"',
    ],
    [
      ["-fd", "1e3", "/v", "web"],
      'argument -fd/--fixed-delay: must be a non-negative number of seconds, got "1e3"',
    ],
    [
      ["-rd", "9999999", "/v", "web"],
      'argument -rd/--random-delay: must be at most 2147483 seconds (about 24 days), got "9999999"',
    ],
    [
      ["--poll-interval", "0", "/v", "web"],
      'argument --poll-interval: must be a positive number of seconds, got "0"',
    ],
    [
      ["--hook-timeout", "0", "/v", "web"],
      'argument --hook-timeout: must be a positive number of seconds, got "0"',
    ],
    [
      ["-e", "maybe", "/v", "web"],
      'argument -e/--enable: invalid FLAG "maybe": use 1/0, true/false, yes/no or on/off',
    ],
    [
      ["-e", "", "/v", "web"],
      "argument -e/--enable: FLAG is empty: use 1/0, true/false, yes/no or on/off (in supervisord.conf an empty value usually means the environment variable behind %(ENV_...)s is unset)",
    ],
    [
      ["--disable", "/v", "web"],
      'argument --disable: invalid FLAG "/v": use 1/0, true/false, yes/no or on/off; to disable without a value, put --disable last or write --disable=yes',
    ],
    [
      ["-e", "1", "--disable", "yes", "/v", "web"],
      "argument --disable: not allowed with argument -e/--enable",
    ],
    [
      ["/v"],
      "nothing to restart: name programs (PROG), groups (-g/--group GROUP) or all (-a/--any)",
    ],
    [["-a", "/v", "web"], "argument -a/--any: not allowed with PROG"],
    [["-a", "-g", "workers", "/v"], "argument -a/--any: not allowed with argument -g/--group"],
    [["--bogus", "/v", "web"], "unrecognized arguments: --bogus"],
    [[], "the following arguments are required: PATH"],
    [["-e", "1"], "the following arguments are required: PATH"],
    [["", "web"], "argument PATH: must not be empty"],
    [
      ["/v", "a b"],
      'argument PROG: invalid program name "a b": use "name", "group:name" or "group:*" (no whitespace, at most one colon)',
    ],
    [
      ["/v", "a:b:c"],
      'argument PROG: invalid program name "a:b:c": use "name", "group:name" or "group:*" (no whitespace, at most one colon)',
    ],
    [
      ["/v", ":web"],
      'argument PROG: invalid program name ":web": use "name", "group:name" or "group:*" (no whitespace, at most one colon)',
    ],
    [
      ["/v", "web:"],
      'argument PROG: invalid program name "web:": use "name", "group:name" or "group:*" (no whitespace, at most one colon)',
    ],
    [
      ["/v", "*"],
      'argument PROG: invalid program name "*": use "name", "group:name" or "group:*" (no whitespace, at most one colon)',
    ],
    [
      ["-g", "a:b", "/v"],
      'argument -g/--group: invalid group name "a:b": must be non-empty, without whitespace or colons',
    ],
    [
      ["--log-level", "loud", "/v", "web"],
      "argument --log-level: invalid choice: 'loud' (choose from 'debug', 'info', 'warning', 'error')",
    ],
    [
      ["-s", "ftp://host", "/v", "web"],
      'argument -s/--serverurl: Cannot use server URL "ftp://host": only unix:// and http:// URLs are supported',
    ],
    [["-rd"], "argument -rd/--random-delay: expected one argument"],
  ];
  for (const [argv, message] of cases) {
    const error = usageError(argv);
    assert.equal(error.message, message, argv.join(" "));
    assert.match(error.usage ?? "", /^usage: releasemon \[-h\] \[--version\] /);
  }
  const badEnv = usageError(["/v", "web"], { SUPERVISOR_SERVER_URL: "localhost:9001" });
  assert.equal(
    badEnv.message,
    'environment variable SUPERVISOR_SERVER_URL: Cannot use server URL "localhost:9001": only ' +
      "unix:// and http:// URLs are supported",
  );
});

Deno.test("parseConfig() refuses a password flag without echoing the password", () => {
  const expected = "argument -p/--password: there is no password flag, because other users " +
    "could read it in the process list; set SUPERVISOR_PASSWORD or use --password-file FILE";
  for (
    const argv of [["--password", "hunter2"], ["--password=hunter2"], ["-p", "hunter2"], [
      "-phunter2",
    ]]
  ) {
    const error = usageError([...argv, "/v", "web"]);
    assert.equal(error.message, expected, argv.join(" "));
    assert.ok(!`${error.message}${error.usage}`.includes("hunter2"));
  }
  assert.equal(usageError(["/v", "web", "--password"]).message, expected);
});

Deno.test("parseConfig() returns help and version as text instead of printing", () => {
  const help = parseConfig(["/v", "--help", "--bogus"], {}, { color: false });
  assert.equal(help.kind, "help");
  const text = (help as { text: string }).text;
  assert.match(text, /^usage: releasemon /);
  for (
    const needle of [
      "-rd, --random-delay SECONDS",
      "-fd, --fixed-delay SECONDS",
      "--disable [FLAG]",
      "-pre, --pre-restart COMMAND",
      "(default: 60)",
      "unix:///var/run/supervisor.sock",
      "--password-file FILE",
      "[program:releasemon]",
      "%(ENV_RELEASEMON_ENABLED)s",
      "RELEASEMON_FAILED_REASONS",
    ]
  ) {
    assert.ok(text.includes(needle), `help mentions ${needle}`);
  }
  assert.ok(!text.includes("undefined"));
  assert.ok(!text.includes("-p, --password"));
  assert.ok(text.split("\n").every((line) => line.length <= 80), "help fits 80 columns");
  assert.deepEqual(parseConfig(["-h"], {}, { color: false }).kind, "help");
  assert.deepEqual(parseConfig(["--version"], {}, { color: false }), {
    kind: "version",
    text: "releasemon 0.1.0",
  });
  assert.equal(VERSION, denoJson.version);
});

Deno.test("parseConfig() writes no ANSI escape anywhere when color is false", () => {
  const help = parseConfig(["--help"], {}, { color: false }) as { text: string };
  assert.ok(!help.text.includes(ESC));
  for (const argv of [["/v"], ["-e", "maybe", "/v", "web"], ["--bogus"], []]) {
    const error = usageError(argv);
    assert.ok(!error.message.includes(ESC), argv.join(" "));
    assert.ok(!(error.usage ?? "").includes(ESC), argv.join(" "));
  }
});

Deno.test("parseConfig() colours help only when color is true", () => {
  const plain = (parseConfig(["--help"], {}, { color: false }) as { text: string }).text;
  const colored = (parseConfig(["--help"], {}, { color: true }) as { text: string }).text;
  assert.ok(colored.includes(ESC));
  // deno-lint-ignore no-control-regex
  assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ""), plain);
  let usage = "";
  try {
    parseConfig(["/v"], {}, { color: true });
  } catch (error) {
    usage = (error as UsageError).usage ?? "";
  }
  assert.ok(usage.includes(ESC));
});

Deno.test("parseConfig() reads the fleet flags, the password only from the environment", () => {
  const config = run(
    [
      "/v",
      "-g",
      "workers",
      "--fleet",
      "redis://10.0.0.5:6379/2",
      "--fleet-name",
      "web",
      "--fleet-id",
      "web-3",
      "--fleet-max",
      "2",
      "--fleet-canary",
      "1",
      "--fleet-on-error",
      "proceed",
      "--fleet-timeout",
      "30",
    ],
    { ...ENV, RELEASEMON_FLEET_PASSWORD: "pw" },
  );
  assert.deepEqual(config.fleet, {
    url: "redis://10.0.0.5:6379/2",
    password: "pw",
    name: "web",
    hostId: "web-3",
    maxParallel: 2,
    canary: 1,
    onError: "proceed",
    timeoutMs: 30_000,
    leaseMs: 30_000,
  });
  assert.equal(config.fleetMode, null);
});

Deno.test("parseConfig() --fleet-status needs no PATH or PROG, but a fleet URL", () => {
  const config = run(["--fleet-status"], {
    ...ENV,
    RELEASEMON_FLEET_URL: "redis://127.0.0.1:6379",
  });
  assert.equal(config.fleetMode, "status");
  assert.equal(config.fleet?.url, "redis://127.0.0.1:6379");
  assert.match(usageError(["--fleet-resume"]).message, /--fleet-resume: needs --fleet URL/);
  assert.match(usageError(["-a"]).message, /the following arguments are required: PATH/);
  assert.match(
    usageError(["/v", "-a", "--fleet", "redis://user:secret@host:1"]).message,
    /Cannot use fleet URL|embedded|RELEASEMON_FLEET_PASSWORD/,
  );
  assert.doesNotMatch(
    usageError(["/v", "-a", "--fleet", "http://user:secret@h"]).message,
    /secret/,
  );
});

Deno.test("parseConfig() checks -s, SUPERVISOR_SERVER_URL and --fleet with the URL parsers", () => {
  assert.equal(
    usageError(["-s", "http://host:99999", "/v", "-a"]).message,
    'argument -s/--serverurl: Cannot use server URL "http://host:99999": port "99999" is not a ' +
      "number from 1 to 65535",
  );
  assert.equal(
    usageError(["/v", "-a"], { SUPERVISOR_SERVER_URL: "unix://run/s.sock" }).message,
    'environment variable SUPERVISOR_SERVER_URL: Cannot use server URL "unix://run/s.sock": the ' +
      "socket path must be absolute, as in unix:///run/supervisor.sock",
  );
  assert.equal(
    usageError(["/v", "-a", "--fleet", "redis://host:6379/x"]).message,
    'argument --fleet: Cannot use fleet URL "redis://host:6379/x": database "x" is not a number ' +
      "from 0 to 2147483647",
  );
  assert.equal(
    run(["-s", "http://[::1]:9001/RPC2", "/v", "-a"]).serverUrl,
    "http://[::1]:9001/RPC2",
  );
  assert.equal(run(["/v", "-a", "--fleet", "rediss://h:6380/2"]).fleet?.url, "rediss://h:6380/2");
});

Deno.test("parseConfig() never echoes credentials in a server or fleet URL", () => {
  const forms = ["hunter2@", "admin:hunter2@", ":hunter2@"];
  for (const userinfo of forms) {
    for (const scheme of ["https", "http", "ftp"]) {
      const url = `${scheme}://${userinfo}host:9001/x y`;
      for (
        const error of [
          usageError(["-s", url, "/v", "-a"]),
          usageError(["/v", "-a"], { SUPERVISOR_SERVER_URL: url }),
          usageError(["/v", "-a", "--fleet", url]),
          usageError(["/v", "-a", "--fleet", `redis://${userinfo}host:6379/0`]),
        ]
      ) {
        assert.ok(!error.message.includes("hunter2"), error.message);
        assert.match(error.message, /URL "[a-z]+:\/\/\*\*\*@host:\d+/, error.message);
      }
    }
  }
  assert.equal(
    usageError(["-s", "https://hunter2@host:9001", "/v", "-a"]).message,
    'argument -s/--serverurl: Cannot use server URL "https://***@host:9001": credentials in the ' +
      "URL are not supported; set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD instead",
  );
});

Deno.test("parseConfig() resolves a relative PATH against the start-up directory", () => {
  const parse = (path: string) => {
    const result = parseConfig([path, "web"], ENV, { color: false, cwd: "/srv/app" });
    assert.equal(result.kind, "run");
    return (result as { config: Config }).config.versionFile;
  };
  assert.equal(parse("current/REVISION"), "/srv/app/current/REVISION");
  assert.equal(parse("./VERSION"), "/srv/app/./VERSION");
  assert.equal(parse("/etc/cfg/VERSION"), "/etc/cfg/VERSION");
  assert.equal(run(["VERSION", "web"]).versionFile, "VERSION", "no cwd given: as written");
});

Deno.test("parseConfig() refuses a duration that would round to 0 ms, for every duration flag", () => {
  const positive = [
    "--hook-timeout",
    "--start-timeout",
    "--rpc-timeout",
    "--fleet-timeout",
    "--poll-interval",
  ];
  for (const flag of positive) {
    const error = usageError(["/v", "web", "--fleet", "redis://h", flag, "0.0004"]);
    assert.equal(error.message, `argument ${flag}: must be at least 0.001 seconds, got "0.0004"`);
    assert.ok(error.usage?.startsWith("usage: releasemon"), flag);
  }
  for (const flag of ["-fd/--fixed-delay", "-rd/--random-delay", "--recheck-interval"]) {
    const option = flag.split("/").at(-1)!;
    assert.equal(
      usageError(["/v", "web", option, "0.0004"]).message,
      `argument ${flag}: must be 0 or at least 0.001 seconds, got "0.0004"`,
    );
  }
  assert.equal(
    usageError(["/v", "web", "--settle", "0.0004"]).message,
    'argument --settle: must be between 0.01 and 5 seconds, got "0.0004"',
  );
  // The smallest values that work are accepted, and 0 where it means "none".
  const config = run([
    "/v",
    "web",
    "--hook-timeout=0.001",
    "--start-timeout=0.001",
    "--rpc-timeout=0.001",
    "--poll-interval=0.001",
    "-fd=0",
    "-rd=0.001",
    "--recheck-interval=0",
  ]);
  assert.deepEqual(
    [config.hookTimeoutMs, config.startTimeoutMs, config.rpcTimeoutMs, config.pollMs],
    [1, 1, 1, 1],
  );
  assert.deepEqual([config.fixedDelayMs, config.randomDelayMs, config.recheckMs], [0, 1, 0]);
});

Deno.test("parseConfig() refuses -fd plus -rd beyond the longest timer", () => {
  const error = usageError(["/v", "web", "-fd", "2000000", "-rd", "200000"]);
  assert.equal(
    error.message,
    "argument -rd/--random-delay: -fd plus -rd must be at most 2147483 seconds (about 24 days), " +
      "got 2000000 + 200000",
  );
  assert.ok(error.usage?.startsWith("usage: releasemon"));
  const config = run(["/v", "web", "-fd", "2000000", "-rd", "147483"]);
  assert.equal(config.fixedDelayMs + config.randomDelayMs, 2_147_483_000);
});

Deno.test("parseConfig() refuses a --fleet-lease shorter than 1 second", () => {
  for (const lease of ["0.5", "0.999", "0"]) {
    assert.equal(
      usageError(["/v", "web", "--fleet", "redis://h", "--fleet-lease", lease]).message,
      `argument --fleet-lease: must be at least 1 second, got ${JSON.stringify(lease)}`,
    );
  }
  const config = run(["/v", "web", "--fleet", "redis://h", "--fleet-lease", "1"]);
  assert.equal(config.fleet?.leaseMs, 1000);
});
