// The version file as real deploy tools write it: rename over it (Ansible, rsync), write it in
// place (`echo v > VERSION`), swap a Capistrano `current` symlink, swap a Kubernetes ConfigMap
// `..data` link; plus the same content rewritten, a burst of writes, and delete-then-recreate.
// Every deploy must restart the target exactly once, to the content it ends with; a burst of
// writes at most twice (its first write is read at once), the last time to its final content.
//
// One supervisord with one target (app); each step starts its own releasemon [program] watching
// its own file, prepared before supervisord starts (so start-up catch-up restarts nothing).
import assert from "node:assert/strict";
import {
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
import { quietPeriod, writerPause } from "../support/waiting.ts";

const APP = "app:app";

/** Version file (PATH) of each releasemon, relative to the supervisord dir. */
const PATHS = {
  atomic: "atomic/VERSION",
  inplace: "inplace/VERSION",
  capistrano: "capistrano/current/VERSION",
  configmap: "configmap/VERSION",
  same: "same/VERSION",
  burst: "burst/VERSION",
  burst_paced: "burst_paced/VERSION",
  recreate: "recreate/VERSION",
};
type Instance = keyof typeof PATHS;

/** The versions a releasemon's log says it applied, in order. */
function appliedVersions(log: string): string[] {
  return matchingLines(log, /Version ".*" applied: /).map((line) =>
    JSON.parse(line.match(/Version (".*") applied: /)![1]!)
  );
}

Deno.test("every deploy style restarts the target once per new version", async (t) => {
  await using sv = await startSupervisordWith(
    {
      programs: [{ name: "app", command: "sleep 3600" }],
      files: {
        [PATHS.atomic]: "a1\n",
        [PATHS.inplace]: "i1\n",
        [PATHS.same]: "s1\n",
        [PATHS.burst]: "b0\n",
        [PATHS.burst_paced]: "p0\n",
        [PATHS.recreate]: "d1\n",
      },
      deferStart: true,
    },
    (sv) =>
      Object.entries(PATHS).map(([name, path]) =>
        releasemonInstance(sv, name, [`${sv.dir}/${path}`, "app"])
      ),
  );
  const capistrano = `${sv.dir}/capistrano`;
  const configmap = `${sv.dir}/configmap`;
  await deploy.symlinkSwap(capistrano, "1", "r1\n");
  await deploy.configMap(configmap, "2024_01_01_00_00_00.1", "c1\n");
  await sv.start();

  const path = (instance: Instance) => `${sv.dir}/${PATHS[instance]}`;

  /**
   * Starts `instance`, deploys each version with `write` once the previous one is applied, and
   * stops it; checks one restart (one new pid) per version. Returns the whole log.
   */
  async function deployEach(
    instance: Instance,
    versions: string[],
    write: (version: string, index: number) => Promise<void>,
  ): Promise<string> {
    await startInstance(sv, instance);
    try {
      const seen: number[] = [];
      for (const [index, version] of versions.entries()) {
        // The target (restarted by the previous deploy) has exec'd: it can take the SIGTERM.
        seen.push((await waitForRunning(sv, [APP]))[APP]!);
        await write(version, index);
        const log = await waitForLog(
          sv,
          new RegExp(`Version "${version}" applied`),
          30_000,
          `${instance}.log`,
        );
        // Applied once, and nothing else applied since the previous deploy.
        assert.deepEqual(appliedVersions(log), versions.slice(0, index + 1), log);
      }
      seen.push((await pids(sv))[APP]!);
      assert.equal(new Set(seen).size, versions.length + 1, `pids ${seen.join(" → ")}`);
    } finally {
      await stopInstance(sv, instance);
    }
    const log = await readLog(sv, `${instance}.log`);
    assert.deepEqual(appliedVersions(log), versions);
    assert.equal(matchingLines(log, /Restarted app:app /).length, versions.length, log);
    return log;
  }

  await t.step("write-and-rename, three deploys in a row", async () => {
    await deployEach("atomic", ["a2", "a3", "a4"], (v) => deploy.atomic(path("atomic"), `${v}\n`));
  });

  await t.step("in-place write (echo v > VERSION), three deploys in a row", async () => {
    await deployEach(
      "inplace",
      ["i2", "i3", "i4"],
      (v) => deploy.inPlace(path("inplace"), `${v}\n`),
    );
  });

  await t.step("Capistrano current -> releases/N symlink swap, three swaps", async () => {
    const log = await deployEach(
      "capistrano",
      ["r2", "r3", "r4"],
      (v, i) => deploy.symlinkSwap(capistrano, String(i + 2), `${v}\n`),
    );
    assert.match(log, /New version "?r4"? \(was "?r3"?\)/);
  });

  await t.step("Kubernetes ConfigMap ..data swap, three swaps", async () => {
    await deployEach(
      "configmap",
      ["c2", "c3", "c4"],
      (v, i) => deploy.configMap(configmap, `2024_01_01_00_00_0${i + 1}.${i + 2}`, `${v}\n`),
    );
  });

  await t.step("the same content rewritten restarts nothing", async () => {
    // Rewritten both ways, then a real new version: the only restart must be for that one.
    const log = await deployEach("same", ["s2"], async (v) => {
      await deploy.atomic(path("same"), "s1\n");
      await deploy.inPlace(path("same"), "s1\n");
      // More than --settle (200 ms): the rewrites are read on their own, not with s2.
      await quietPeriod(500, "the same content, rewritten, restarts nothing");
      await deploy.atomic(path("same"), `${v}\n`);
    });
    assert.match(log, /New version "?s2"? \(was "?s1"?\)/);
  });

  /** Writes a burst; the target restarts at most twice, the last time to `final`. */
  async function deployBurst(instance: Instance, final: string, write: () => Promise<void>) {
    await startInstance(sv, instance);
    try {
      await waitForRunning(sv, [APP]);
      await write();
      const log = await waitForLog(
        sv,
        new RegExp(`Version "${final}" applied`),
        30_000,
        `${instance}.log`,
      );
      const applied = appliedVersions(log);
      assert.ok(applied.length <= 2, `applied ${applied.join(", ")}`);
      assert.equal(applied.at(-1), final);
    } finally {
      await stopInstance(sv, instance);
    }
  }

  await t.step(
    "a burst of 20 back-to-back writes: at most two restarts, the last to b20",
    () =>
      deployBurst("burst", "b20", async () => {
        for (let i = 1; i <= 20; i++) await deploy.inPlace(path("burst"), `b${i}\n`);
      }),
  );

  await t.step("a burst of 20 writes 10 ms apart: at most two restarts, the last to p20", () =>
    // A script looping `echo $i > VERSION; sleep 0.01`: the first write is read at its close; the
    // rest, each within the 200 ms --settle of the one before, are read once when they stop.
    deployBurst("burst_paced", "p20", async () => {
      for (let i = 1; i <= 20; i++) {
        await deploy.inPlace(path("burst_paced"), `p${i}\n`);
        await writerPause(10);
      }
    }));

  await t.step("the file deleted, then recreated with new content: one restart", async () => {
    const log = await deployEach("recreate", ["d2"], async (v) => {
      await Deno.remove(path("recreate"));
      // Logged once the watcher has re-armed for the file's return.
      await waitForLog(sv, /deleted; waiting for it to come back/, 30_000, "recreate.log");
      await deploy.inPlace(path("recreate"), `${v}\n`);
    });
    assert.match(
      log,
      new RegExp(
        `WARN {2}\\[\\w+\\] Version file ${
          RegExp.escape(path("recreate"))
        } deleted; waiting for it`,
      ),
    );
    assert.match(log, /New version "?d2"? \(was "?d1"?\)/);
  });
});
