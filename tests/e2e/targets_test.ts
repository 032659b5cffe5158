// Which programs a deploy restarts, and which it leaves alone, under a real supervisord.
//
// One supervisord holds the apps and one releasemon [program] per target selection; each step
// starts its releasemon, deploys a new version and checks which pids changed (and what the log
// tells the operator), then stops it. Each releasemon watches its own VERSION file, written before
// supervisord starts, so that releasemon's start-up catch-up (restart what started before the
// current version appeared) finds nothing to do and every restart seen is the deploy's.
import assert from "node:assert/strict";
import {
  changedPids,
  deploy,
  hasExeced,
  matchingLines,
  pids,
  releasemonInstance,
  startInstance,
  startSupervisordWith,
  stopInstance,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import { type Supervisord, waitFor } from "../support/supervisord.ts";

const SLEEPER = "sleep 3600";
/** Every target that runs from the start (slow does not autostart). */
const APPS = [
  "web:web",
  "workers:w1",
  "workers:w2",
  "queues:q1",
  "maint:maint",
  "fragile:fragile",
];
/** One releasemon [program] per selection: its arguments, given the version file. */
const INSTANCES: Record<string, (path: string) => string[]> = {
  by_name: (path) => [path, "web"],
  group_name: (path) => [path, "workers:w1"],
  groups: (path) => ["-g", "workers", "-g", "queues", path],
  any: (path) => ["-a", path],
  running_only: (path) => ["--running-only", path, "web", "slow"],
  no_flag: (path) => [path, "web", "slow"],
  stopped: (path) => [path, "web", "maint"],
  unknown: (path) => [path, "web", "nosuch"],
  broken: (path) => [path, "web", "fragile"],
};

const versionFile = (sv: { dir: string }, instance: string) => `${sv.dir}/${instance}/VERSION`;

/** Deploys `version` for `instance` (once the targets are RUNNING and exec'd: waitForRunning). */
async function deployVersion(sv: Supervisord, instance: string, version: string): Promise<void> {
  await deploy.atomic(versionFile(sv, instance), `${version}\n`);
}

Deno.test("releasemon restarts exactly the programs its command line selects", async (t) => {
  await using sv = await startSupervisordWith(
    {
      programs: [
        { name: "web", command: SLEEPER },
        { name: "w1", command: SLEEPER },
        { name: "w2", command: SLEEPER },
        { name: "q1", command: SLEEPER },
        { name: "maint", command: SLEEPER },
        // Held in STARTING for a minute once started.
        { name: "slow", command: SLEEPER, options: { startsecs: 60, autostart: false } },
        {
          // Runs until the new release breaks it; then exits at once on every start.
          // supervisord expands %(here)s to the config file's directory.
          name: "fragile",
          command: `sh -c 'test -e %(here)s/broken-release && exit 3; exec sleep 3600'`,
          options: { startsecs: 1, startretries: 1 },
        },
      ],
      groups: { workers: ["w1", "w2"], queues: ["q1"] },
      files: Object.fromEntries(Object.keys(INSTANCES).map((name) => [`${name}/VERSION`, "v0\n"])),
    },
    (sv) =>
      Object.entries(INSTANCES).map(([name, args]) =>
        releasemonInstance(sv, name, args(versionFile(sv, name)))
      ),
  );
  const client = sv.client();

  /** Starts `instance`, deploys `version`, waits for its summary; returns pids and the log. */
  async function deployWith(instance: string, version: string, running = APPS) {
    await startInstance(sv, instance);
    const before = await waitForRunning(sv, running);
    await deployVersion(sv, instance, version);
    const log = await waitForLog(
      sv,
      new RegExp(`Version "${version}" (applied|partial|failed)`),
      30_000,
      `${instance}.log`,
    );
    return { before, after: await pids(sv), log };
  }

  await t.step("PROG by name restarts that program only", async () => {
    try {
      const { before, after, log } = await deployWith("by_name", "v1");
      assert.deepEqual(changedPids(before, after), ["web:web"]);
      assert.match(log, /INFO {2}\[\w+\] Restarting 1 program\(s\) for version "v1": web:web\n/);
    } finally {
      await stopInstance(sv, "by_name");
    }
  });

  await t.step("PROG as group:name restarts that member only, not its group", async () => {
    try {
      const { before, after, log } = await deployWith("group_name", "v2");
      assert.deepEqual(changedPids(before, after), ["workers:w1"]);
      assert.match(log, /Version "v2" applied: 1 restarted, 0 failed, 0 skipped/);
    } finally {
      await stopInstance(sv, "group_name");
    }
  });

  await t.step("-g GROUP, repeated, restarts every member of each group", async () => {
    try {
      const { before, after, log } = await deployWith("groups", "v3");
      assert.deepEqual(changedPids(before, after), ["queues:q1", "workers:w1", "workers:w2"]);
      assert.match(
        log,
        /Restarting 3 program\(s\) for version "v3": queues:q1 workers:w1 workers:w2\n/,
      );
    } finally {
      await stopInstance(sv, "groups");
    }
  });

  await t.step("-a restarts every running child except releasemon itself", async () => {
    try {
      const { before, after, log } = await deployWith("any", "v4");
      const self = (await client.getProcessInfo("any")).pid;
      assert.deepEqual(changedPids(before, after), [...APPS].sort());
      assert.equal(after["any:any"], self, "releasemon did not restart itself");
      assert.doesNotMatch(log, /any:any/);
      assert.match(log, /restarting every program except releasemon on a new version/);
      assert.match(
        log,
        /Restarting 6 program\(s\) for version "v4": fragile:fragile maint:maint queues:q1 web:web workers:w1 workers:w2\n/,
      );
      // The stopped ones (slow, the other releasemons) are left stopped.
      assert.match(log, /Version "v4" applied: 6 restarted, 0 failed, 9 skipped/);
      assert.equal((await client.getProcessInfo("slow")).state, "STOPPED");
    } finally {
      await stopInstance(sv, "any");
    }
  });

  await t.step("--running-only leaves a STARTING program alone", async () => {
    try {
      await client.startProcess("slow", false);
      const slowPid = await waitFor("slow STARTING", async () => {
        const info = await client.getProcessInfo("slow");
        return info.state === "STARTING" ? info.pid : undefined;
      });
      const { before, after, log } = await deployWith("running_only", "v5");
      assert.deepEqual(changedPids(before, after), ["web:web"]);
      assert.equal(after["slow:slow"], slowPid);
      assert.equal((await client.getProcessInfo("slow")).state, "STARTING");
      assert.match(
        log,
        /INFO {2}\[\w+\] Not restarting slow:slow: STARTING \(--running-only restarts only RUNNING\)\n/,
      );
      assert.match(log, /Version "v5" applied: 1 restarted, 0 failed, 1 skipped/);
    } finally {
      await stopInstance(sv, "running_only");
    }
  });

  await t.step("without --running-only a STARTING program is restarted too", async () => {
    try {
      await startInstance(sv, "no_flag");
      await waitForRunning(sv, ["web:web"]);
      const before = await pids(sv);
      assert.equal((await client.getProcessInfo("slow")).state, "STARTING");
      await waitFor(
        "slow to exec",
        async () => await hasExeced(sv, before["slow:slow"]!) || undefined,
      );
      await deployVersion(sv, "no_flag", "v6");
      // slow stays STARTING for a minute after its restart: watch its pid, not the summary.
      await waitFor("web and slow restarted", async () => {
        const now = await pids(sv);
        return changedPids(before, now).length === 2 ? now : undefined;
      }, 30_000);
      const after = await pids(sv);
      assert.deepEqual(changedPids(before, after), ["slow:slow", "web:web"]);
      assert.match(
        await waitForLog(sv, /Restarting 2 program/, 30_000, "no_flag.log"),
        /Restarting 2 program\(s\) for version "v6": slow:slow web:web\n/,
      );
    } finally {
      await stopInstance(sv, "no_flag");
      await client.stopProcess("slow");
    }
  });

  await t.step("a program STOPPED by the operator stays STOPPED", async () => {
    try {
      assert.match(await sv.ctl("stop", "maint"), /maint: stopped/);
      const running = APPS.filter((namespec) => namespec !== "maint:maint");
      const { before, after, log } = await deployWith("stopped", "v7", running);
      assert.deepEqual(changedPids(before, after), ["web:web"]);
      assert.equal((await client.getProcessInfo("maint")).state, "STOPPED");
      assert.match(await sv.ctl("status", "maint"), /^maint\s+STOPPED/);
      assert.match(
        log,
        /INFO {2}\[\w+\] Not restarting maint:maint: STOPPED \(a restart never starts a stopped program\)\n/,
      );
      assert.match(log, /Version "v7" applied: 1 restarted, 0 failed, 1 skipped/);
    } finally {
      await stopInstance(sv, "stopped");
      await sv.ctl("start", "maint");
    }
  });

  await t.step(
    "a PROG that does not exist is named at start-up; the others still restart",
    async () => {
      try {
        const { before, after, log } = await deployWith("unknown", "v8");
        assert.deepEqual(changedPids(before, after), ["web:web"]);
        const watching = log.indexOf("[run] Watching ");
        const atStartUp = matchingLines(log.slice(0, watching), /WARN /);
        assert.equal(atStartUp.length, 1, log);
        assert.match(
          atStartUp[0]!,
          new RegExp(
            `WARN {2}\\[\\w+\\] No program matches nosuch in supervisord at unix://${
              RegExp.escape(sv.socketPath)
            }; check the name$`,
          ),
        );
        assert.match(
          log,
          /ERROR \[\w+\] No program matches nosuch; nothing restarted for it \(check the name\)\n/,
        );
        // Never "applied" (nor success) while a requested name matches nothing.
        assert.match(
          log,
          /ERROR \[\w+\] Version "v8" partial: 1 restarted, 0 failed, 0 skipped in [^;\n]+; no program matches nosuch\n/,
        );
      } finally {
        await stopInstance(sv, "unknown");
      }
    },
  );

  await t.step(
    "a program that fails with the new release is logged as failed; others restart",
    async () => {
      try {
        await startInstance(sv, "broken");
        const before = await waitForRunning(sv, APPS);
        await Deno.writeTextFile(`${sv.dir}/broken-release`, "the new release breaks fragile\n");
        await deployVersion(sv, "broken", "v9");
        const log = await waitForLog(sv, /Version "v9" partial/, 30_000, "broken.log");
        const after = await pids(sv);
        assert.ok(changedPids(before, after).includes("web:web"));
        assert.equal((await client.getProcessInfo("web")).state, "RUNNING");
        assert.match(
          log,
          /ERROR \[\w+\] Cannot restart fragile:fragile: (BACKOFF|EXITED|FATAL) after start[^\n]*; see that program's stderr log\n/,
        );
        assert.match(log, /INFO {2}\[\w+\] Restarted web:web \(pid \d+ → \d+\)\n/);
        assert.match(log, /ERROR \[\w+\] Version "v9" partial: 1 restarted, 1 failed, 0 skipped/);
      } finally {
        await stopInstance(sv, "broken");
      }
    },
  );
});
