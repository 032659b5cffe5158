// Signals in the middle of a restart, as supervisord and operators send them: a program with a
// slow graceful stop (3 s) is being restarted when releasemon gets HUP (`supervisorctl signal HUP
// all`, how people make programs reopen their logs), TERM (`supervisorctl stop releasemon`) or
// QUIT. HUP is logged and ignored; TERM and QUIT end releasemon only after it has started again
// what it stopped. Either way no program is left down.
import assert from "node:assert/strict";
import {
  deploy,
  pids,
  readLog,
  startWithReleasemon,
  waitForLog,
  waitForRunning,
} from "../support/releasemon.ts";
import { type Supervisord, waitFor } from "../support/supervisord.ts";

// Ignores HUP like a program that reopens its logs; takes 3 s to stop gracefully on TERM.
const SLOW_SH = `#!/bin/sh
trap '' HUP
trap 'sleep 3; exit 0' TERM
while :; do sleep 0.1; done
`;

/** Deploys `version` and waits until releasemon has `slow` STOPPING (mid-restart). */
async function deployAndCatchStopping(sv: Supervisord, version: string): Promise<void> {
  await deploy.atomic(`${sv.dir}/VERSION`, `${version}\n`);
  await waitFor(
    "slow STOPPING",
    async () => {
      const info = await sv.client().getProcessInfo("slow");
      return info.state === "STOPPING" ? true : undefined;
    },
    30_000,
    10,
  );
}

async function stateOf(sv: Supervisord, name: string): Promise<string> {
  return (await sv.client().getProcessInfo(name)).state;
}

Deno.test("signals mid-restart never leave a program down", async (t) => {
  await using sv = await startWithReleasemon({
    programs: [{
      name: "slow",
      command: "sh %(here)s/slow.sh",
      options: { startsecs: 1, stopwaitsecs: 20, stopasgroup: false },
    }],
    files: { "slow.sh": SLOW_SH, VERSION: "v1\n" },
  }, (sv) => [`${sv.dir}/VERSION`, "slow"]);
  await waitForLog(sv, /\[run\] Watching /);
  await waitForRunning(sv, ["slow:slow"]);

  await t.step("HUP (supervisorctl signal HUP all) is logged and ignored", async () => {
    const before = await pids(sv);
    await deployAndCatchStopping(sv, "v2");
    await sv.ctl("signal", "HUP", "all");
    const after = await waitFor("slow RUNNING with a new pid", async () => {
      const now = await pids(sv);
      return now["slow:slow"] !== before["slow:slow"] && (await stateOf(sv, "slow")) === "RUNNING"
        ? now
        : undefined;
    }, 30_000);
    assert.equal(
      after["releasemon:releasemon"],
      before["releasemon:releasemon"],
      "releasemon kept running through HUP",
    );
    const log = await waitForLog(sv, /Version "v2" applied/);
    assert.match(log, /SIGHUP received; ignored/);
  });

  for (const [step, signal, version] of [["TERM", "SIGTERM", "v3"], ["QUIT", "SIGQUIT", "v4"]]) {
    await t.step(
      `${step} mid-restart: the stopped program is started before releasemon exits`,
      async () => {
        const before = await pids(sv);
        await deployAndCatchStopping(sv, version!);
        if (signal === "SIGTERM") {
          // supervisorctl stop waits for releasemon to exit (stopwaitsecs=15 for it).
          const out = await sv.ctl("stop", "releasemon");
          assert.match(out, /releasemon: stopped/);
        } else {
          await sv.ctl("signal", "QUIT", "releasemon");
        }
        await waitFor("releasemon exited", async () => {
          const state = await stateOf(sv, "releasemon");
          return ["STOPPED", "EXITED"].includes(state) ? state : undefined;
        }, 30_000);
        // Right when releasemon is gone, its target is up again: nothing restarts it later.
        assert.notEqual(await stateOf(sv, "slow"), "STOPPED");
        const after = await waitForRunning(sv, ["slow:slow"]);
        assert.notEqual(after["slow:slow"], before["slow:slow"]);
        const log = await readLog(sv);
        assert.match(log, new RegExp(`${signal} received; stopping`));
        // Cut short: the outcome's own word, never "applied" for a program left not RUNNING.
        assert.match(
          log,
          new RegExp(
            `ERROR \\[\\w+\\] Version "${version}" (partial|failed): .*; not restarted: slow:slow\n`,
          ),
        );
        assert.match(
          await Deno.readTextFile(`${sv.dir}/supervisord.log`),
          /(stopped|exited): releasemon \(exit status 0[;)]/,
        );
        const started = await sv.ctl("start", "releasemon");
        assert.match(started, /releasemon: started/);
        await waitFor("releasemon watching again", async () => {
          const text = await readLog(sv);
          return text.split("[run] Watching ").length - 1 >= (signal === "SIGTERM" ? 2 : 3)
            ? true
            : undefined;
        }, 30_000);
      },
    );
  }
});
