// The supervisord contract (tests/support/supervisor_contract.ts) against a real supervisord
// 4.2.5: the same steps the FakeSupervisor passes in tests/unit/supervisor_contract_fake_test.ts.
import {
  type Behaviour,
  CONTRACT_PROGRAMS,
  type ContractProgram,
  type ContractSubject,
  MISSING_COMMAND,
  supervisorContract,
} from "../support/supervisor_contract.ts";
import { type ProgramSpec, startSupervisord, waitFor } from "../support/supervisord.ts";

/** The command and options that make a real program behave as declared. */
const COMMANDS: Record<Behaviour, { command: string; options: ProgramSpec["options"] }> = {
  // startsecs=1: RUNNING once `sleep` has surely been exec'd. A SIGTERM that lands between
  // supervisord's fork and the exec is lost (the child still has supervisord's handler), and the
  // stop then waits for stopwaitsecs and SIGKILL.
  runs: { command: "sleep 3600", options: { startsecs: 1 } },
  missing: { command: MISSING_COMMAND, options: {} },
  // Alive long enough that startProcess(wait=false) answers before it exits, and well short of
  // its startsecs, so every exit is "too quick": BACKOFF, then FATAL (startretries=0).
  crashes: { command: "sh -c 'sleep 1; exit 3'", options: { startsecs: 10 } },
  exits: { command: "sh -c 'exit 0'", options: { autorestart: false } },
};

function programSpec(program: ContractProgram): ProgramSpec {
  const { command, options } = COMMANDS[program.behaviour];
  return {
    name: program.name,
    command,
    options: { ...options, autostart: program.autostart, startretries: 0 },
  };
}

function groups(programs: readonly ContractProgram[]): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const { group, name } of programs) {
    if (group !== name) (groups[group] ??= []).push(name);
  }
  return groups;
}

Deno.test("a real supervisord keeps the contract the FakeSupervisor models", async (t) => {
  await using sv = await startSupervisord({
    programs: CONTRACT_PROGRAMS.map(programSpec),
    groups: groups(CONTRACT_PROGRAMS),
  });
  const nowSec = () => Math.floor(Date.now() / 1000);
  const subject: ContractSubject = {
    client: sv.client(),
    nowSec,
    async nextSecond() {
      const from = nowSec();
      await waitFor("the next second", () => nowSec() > from ? true : undefined, 5_000, 10);
    },
  };
  await supervisorContract(t, subject);
});
