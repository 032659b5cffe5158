// The supervisord contract (tests/support/supervisor_contract.ts) against the FakeSupervisor, on
// a fake clock: the same steps a real supervisord passes in
// tests/integration/supervisor_contract_real_test.ts.
import { FakeClock } from "../support/fake_clock.ts";
import { FakeSupervisor } from "../support/fake_supervisor.ts";
import {
  CONTRACT_PROGRAMS,
  type ContractProgram,
  MISSING_COMMAND,
  supervisorContract,
} from "../support/supervisor_contract.ts";

/** Adds `program` to `fake` in the state a real supervisord leaves it in after boot. */
function declare(fake: FakeSupervisor, program: ContractProgram): void {
  const namespec = `${program.group}:${program.name}`;
  switch (program.behaviour) {
    case "runs":
      fake.add(namespec, program.autostart ? "RUNNING" : "STOPPED");
      return;
    case "missing":
      fake.add(namespec, program.autostart ? "FATAL" : "STOPPED");
      fake.missingCommand(namespec, MISSING_COMMAND);
      return;
    case "crashes":
      fake.add(namespec, program.autostart ? "FATAL" : "STOPPED");
      fake.onStart(namespec, ["STARTING", "BACKOFF", "FATAL"]);
      return;
    case "exits":
      fake.add(namespec, program.autostart ? "EXITED" : "STOPPED");
      fake.onStart(namespec, ["STARTING", "RUNNING", "EXITED"]);
      return;
  }
}

Deno.test("FakeSupervisor keeps supervisord's contract", async (t) => {
  using clock = new FakeClock(Date.UTC(2026, 0, 1, 12));
  const fake = new FakeSupervisor({ clock });
  for (const program of CONTRACT_PROGRAMS) declare(fake, program);
  await supervisorContract(t, {
    client: fake.client(),
    nowSec: () => Math.floor(clock.now() / 1000),
    nextSecond: () => Promise.resolve(clock.tick(1000)),
  });
});
