/**
 * What a readiness check is given: the URL with `{name}` and `{group}` replaced, the program
 * variables of a check command, and how a dry run names the check.
 */
import assert from "node:assert/strict";
import {
  describeReadiness,
  type ReadinessSettings,
  readyCheckEnvironment,
  readyUrlFor,
} from "../../lib/readiness.ts";

const TARGET = { namespec: "workers:w 1", name: "w 1", group: "workers", pid: 4242 };

Deno.test("readyUrlFor() replaces every {name} and {group}, URL-encoded", () => {
  assert.equal(
    readyUrlFor("http://127.0.0.1:8080/{group}/{name}?again={name}", TARGET),
    "http://127.0.0.1:8080/workers/w%201?again=w%201",
  );
  assert.equal(
    readyUrlFor("http://127.0.0.1:{name}/health", { name: "8001", group: "workers" }),
    "http://127.0.0.1:8001/health",
  );
  assert.equal(
    readyUrlFor("http://h/{name}", { name: "a/b?c&d", group: "g" }),
    "http://h/a%2Fb%3Fc%26d",
  );
});

Deno.test("readyCheckEnvironment() names the program and its new pid", () => {
  assert.deepEqual(readyCheckEnvironment(TARGET), {
    RELEASEMON_PROGRAM: "workers:w 1",
    RELEASEMON_PROGRAM_NAME: "w 1",
    RELEASEMON_PROGRAM_GROUP: "workers",
    RELEASEMON_PROGRAM_PID: "4242",
  });
  assert.equal(readyCheckEnvironment({ ...TARGET, pid: null }).RELEASEMON_PROGRAM_PID, "");
});

Deno.test("describeReadiness() shows the command or the GET a dry run would do", () => {
  const base: ReadinessSettings = {
    check: null,
    url: null,
    intervalMs: 500,
    timeoutMs: 60_000,
    env: {},
  };
  assert.equal(
    describeReadiness({ ...base, check: 'test -e "/run/$RELEASEMON_PROGRAM_NAME"' }, TARGET),
    'sh -c "test -e \\"/run/$RELEASEMON_PROGRAM_NAME\\""',
  );
  assert.equal(
    describeReadiness({ ...base, url: "http://127.0.0.1:8080/{name}" }, TARGET),
    "GET http://127.0.0.1:8080/w%201",
  );
});
