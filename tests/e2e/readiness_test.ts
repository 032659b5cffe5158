// Readiness checks end to end under a real supervisord (issue 17): --ready-check gates a rolling
// restart and halts it on a program that never gets ready; --ready-url against an HTTP server the
// test runs; a fleet canary that is not ready halts the version.
import assert from "node:assert/strict";
import { startFleetHosts } from "../support/fleet_hosts.ts";
import { startRedis } from "../support/redis.ts";
import {
  changedPids,
  deploy,
  matchingLines,
  pids,
  readLog,
  releasemonInstance,
  startInstance,
  startSupervisordWith,
  stopInstance,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import type { Supervisord } from "../support/supervisord.ts";
import { waitFor } from "../support/supervisord.ts";

// A worker that gets ready 2 s after it starts: its ready file ($1) is removed at start and on
// SIGTERM, and holds its pid from 2 s on, unless a file `never-ready` sits next to it.
const READY_WORKER_SH = `#!/bin/sh
rm -f "$1"
trap 'rm -f "$1"; exit 0' TERM
start=$(date +%s%N)
while :; do
  sleep 0.05
  if [ ! -e "$1" ] && [ ! -e "$(dirname "$1")/never-ready" ] &&
    [ $(( $(date +%s%N) - start )) -ge 2000000000 ]; then
    echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
  fi
done
`;

const IDLE_SH = `#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 0.05; done
`;

/** Ready when the program's ready file holds its (new) pid; else says why, on one line. */
function readyCheck(dir: string): string {
  return `f=${dir}/$RELEASEMON_PROGRAM_NAME.ready; ` +
    `test "$(cat "$f" 2>/dev/null)" = "$RELEASEMON_PROGRAM_PID" || ` +
    `{ echo "no ready file for pid $RELEASEMON_PROGRAM_PID"; exit 1; }`;
}

/** How many of `names` are stopped (not RUNNING) or not ready (no ready file with their pid). */
async function unavailable(sv: Supervisord, names: readonly string[]): Promise<string[]> {
  // States first, then files: a program that gets ready in between is not miscounted.
  const infos = await sv.client().getAllProcessInfo();
  const down: string[] = [];
  for (const name of names) {
    const info = infos.find((i) => i.namespec === `pool:${name}`);
    if (!info || info.state !== "RUNNING") {
      down.push(`${name} ${info?.state ?? "missing"}`);
      continue;
    }
    const content = await Deno.readTextFile(`${sv.dir}/${name}.ready`).catch(() => "");
    if (content.trim() !== String(info.pid)) down.push(`${name} not ready`);
  }
  return down;
}

Deno.test("--ready-check gates a rolling restart under a real supervisord", async (t) => {
  const names = ["p1", "p2", "p3", "p4"];
  await using sv = await startSupervisordWith({
    programs: names.map((name) => ({
      name,
      command: `sh %(here)s/ready_worker.sh %(here)s/${name}.ready`,
      options: { startsecs: 1, startretries: 0 },
    })),
    groups: { pool: names },
    files: { "ready_worker.sh": READY_WORKER_SH, "v1/VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "rolling", [
      `${sv.dir}/v1/VERSION`,
      "-g",
      "pool",
      "--rolling",
      "--ready-check",
      readyCheck(sv.dir),
      "--ready-interval",
      "0.2",
      "--ready-timeout",
      "6",
      "-post",
      `env | grep ^RELEASEMON_ > ${sv.dir}/post.env`,
    ]),
  ]);
  const namespecs = names.map((n) => `pool:${n}`);
  const versionFile = `${sv.dir}/v1/VERSION`;
  await startInstance(sv, "rolling");

  await t.step("never more than one program stopped or not ready at a time", async () => {
    const before = await waitForRunning(sv, namespecs);
    await waitFor("every program ready", async () => {
      return (await unavailable(sv, names)).length === 0 || undefined;
    }, 30_000);
    await deploy.atomic(versionFile, "v2\n");
    let done = false;
    const samples: string[][] = [];
    const sampler = (async () => {
      while (!done) {
        samples.push(await unavailable(sv, names));
        // Pacing only, so the sampler does not crowd supervisord's single thread.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await waitForLog(sv, /Version "v2" applied: 4 restarted, 0 failed/, 90_000, "rolling.log");
    } finally {
      done = true;
      await sampler;
    }
    const log = await readLog(sv, "rolling.log");
    const worst = samples.reduce((a, b) => (b.length > a.length ? b : a), []);
    assert.ok(worst.length <= 1, `at one moment: ${worst.join(", ")}\n${log}`);
    assert.ok(samples.some((s) => s.length === 1), "the sampler saw the rollout");
    assert.deepEqual(changedPids(before, await pids(sv)), namespecs);
    const after = await pids(sv);
    for (const namespec of namespecs) {
      assert.match(
        log,
        new RegExp(`Ready ${namespec} \\(pid ${after[namespec]}\\) after \\d+\\.\\d s`),
      );
    }
  });

  await t.step("a release that never gets ready halts after the first program", async () => {
    const before = await waitForRunning(sv, namespecs);
    await Deno.writeTextFile(`${sv.dir}/never-ready`, "");
    await deploy.atomic(versionFile, "v3\n");
    const log = await waitForLog(sv, /ROLLING RESTART HALTED/, 90_000, "rolling.log");
    const p1 = (await pids(sv))["pool:p1"]!;
    assert.notEqual(p1, before["pool:p1"]);
    assert.match(
      log,
      new RegExp(`pool:p1 \\(not ready after 6 s: no ready file for pid ${p1}\\)`),
    );
    assert.match(log, /3 program\(s\) left on the previous release: pool:p2 pool:p3 pool:p4/);
    await waitFor("post-restart environment", async () => {
      const text = await Deno.readTextFile(`${sv.dir}/post.env`).catch(() => "");
      return text.includes("RELEASEMON_VERSION=v3") ? text : undefined;
    });
    const env = await Deno.readTextFile(`${sv.dir}/post.env`);
    assert.match(env, /^RELEASEMON_OUTCOME=failed$/m);
    assert.match(env, /^RELEASEMON_FAILED=pool:p1$/m);
    assert.match(env, /^RELEASEMON_NOT_READY=pool:p1$/m);
    assert.match(env, /^RELEASEMON_RESTARTED=$/m);
    assert.match(env, /^RELEASEMON_UNTOUCHED=pool:p2 pool:p3 pool:p4$/m);
    // Not ready is left running; the rest keep the old release.
    const after = await waitForRunning(sv, namespecs);
    assert.equal(after["pool:p1"], p1);
    for (const name of ["pool:p2", "pool:p3", "pool:p4"]) assert.equal(after[name], before[name]);
    await stopInstance(sv, "rolling");
  });
});

Deno.test("--ready-url polls a program's HTTP endpoint until a 2xx", async (t) => {
  const requests = new Map<string, number>();
  let answer: "503-then-200" | "redirect" = "503-then-200";
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    const count = (requests.get(path) ?? 0) + 1;
    requests.set(path, count);
    if (answer === "redirect") {
      return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
    }
    return count <= 2
      ? new Response("starting\n", { status: 503 })
      : new Response("ok\n", { status: 200 });
  });
  await using sv = await startSupervisordWith({
    programs: ["a", "b"].map((name) => ({
      name,
      command: "sh %(here)s/idle.sh",
      options: { startsecs: 0, startretries: 0 },
    })),
    groups: { web: ["a", "b"] },
    files: { "idle.sh": IDLE_SH, "v1/VERSION": "v1\n" },
  }, (sv) => [
    releasemonInstance(sv, "url", [
      `${sv.dir}/v1/VERSION`,
      "-g",
      "web",
      "--ready-url",
      `http://127.0.0.1:${server.addr.port}/ready/{group}/{name}`,
      "--ready-interval",
      "0.1",
      "--ready-timeout",
      "2",
    ]),
  ]);
  const namespecs = ["web:a", "web:b"];
  await startInstance(sv, "url");

  await t.step("503 twice, then 200: ready, all at once", async () => {
    await waitForRunning(sv, namespecs);
    await deploy.atomic(`${sv.dir}/v1/VERSION`, "v2\n");
    const log = await waitForLog(
      sv,
      /Version "v2" applied: 2 restarted, 0 failed/,
      60_000,
      "url.log",
    );
    assert.equal(matchingLines(log, /Ready web:[ab] \(pid \d+\) after/).length, 2);
    assert.deepEqual([...requests.entries()].sort(), [["/ready/web/a", 3], ["/ready/web/b", 3]]);
  });

  await t.step("a redirect is not followed: not ready, with the HTTP status", async () => {
    answer = "redirect";
    await waitForRunning(sv, namespecs);
    await deploy.atomic(`${sv.dir}/v1/VERSION`, "v3\n");
    const log = await waitForLog(
      sv,
      /Version "v3" failed: 0 restarted, 2 failed/,
      60_000,
      "url.log",
    );
    assert.equal(
      matchingLines(log, /Not ready: web:[ab] \(pid \d+\): not ready after 2 s: HTTP 302 Found/)
        .length,
      2,
    );
    assert.equal(requests.get("/elsewhere"), undefined, "the redirect was not followed");
    await stopInstance(sv, "url");
  });
});

Deno.test("a fleet canary that is not ready halts the version", async () => {
  await using redis = await startRedis();
  const unready = `test ! -e "$(dirname "$RELEASEMON_VERSION_FILE")/../unready" || ` +
    `{ echo "unready marker present"; exit 1; }`;
  await using fleet = await startFleetHosts(redis, {
    count: 3,
    fleetName: "ready-canary",
    args: () => [
      "--fleet-max",
      "1",
      "--fleet-canary",
      "1",
      "--ready-check",
      unready,
      "--ready-interval",
      "0.2",
      "--ready-timeout",
      "2",
    ],
    postLog: true,
  });
  await fleet.ready();
  const before = await Promise.all(
    fleet.hosts.map((host) => waitForRunning(host.sv, host.namespecs, 60_000)),
  );
  const [canary, ...rest] = fleet.hosts as [typeof fleet.hosts[0], ...typeof fleet.hosts];
  await Deno.writeTextFile(`${canary.sv.dir}/unready`, "");
  await canary.deploy("v2");
  await canary.waitForLog(/Fleet slot granted for .*\(canary\)/, 60_000);
  await fleet.deployAll("v2", rest);
  const log = await canary.waitForLog(/Version "?v2"? marked failed for the fleet/, 120_000);
  assert.match(log, /Not ready: w1:w1 \(pid \d+\): not ready after 2 s: unready marker present/);
  await Promise.all(
    rest.map((host) =>
      host.waitForLog(/FLEET ROLLOUT HALTED for version "?v2"?: .*host0/, 120_000)
    ),
  );
  for (const host of rest) {
    assert.equal((await pids(host.sv))["w1:w1"], before[host.index]!["w1:w1"], host.id);
  }
  // Not ready is left running, on the new release.
  const canaryNow = await waitForRunning(canary.sv, canary.namespecs);
  assert.notEqual(canaryNow["w1:w1"], before[0]!["w1:w1"]);
  await waitFor("canary post command", async () => (await canary.postLines()).length || undefined);
  assert.deepEqual(await canary.postLines(), ["v2 failed"]);
});
