// lib/_argv.ts and lib/_argv_help.ts against npm argparse (a test-only dependency), both built from
// releasemon's table of arguments: the same values or the same error message for hand-written
// tricky command lines and thousands of seeded random ones, and the same usage and help text.
import assert from "node:assert/strict";
import { parseArgv } from "../../lib/_argv.ts";
import { ArgvError } from "../../lib/_argv_types.ts";
import { formatHelp, formatUsage } from "../../lib/_argv_help.ts";
import { ARGUMENTS, HELP_TEXT } from "../../lib/_config_parser.ts";
import { NO_THEME, THEME } from "../../lib/config_help.ts";
import {
  buildReference,
  parseWithReference,
  type ReferenceOutcome,
} from "../support/argparse_reference.ts";
import { randomCommandLine, seededRandom, TRICKY_COMMAND_LINES } from "../support/argv_cases.ts";

const REFERENCE = buildReference(false);

/** Our parser's outcome, in the reference's form; undefined values left out on both sides. */
function ours(argv: readonly string[]): ReferenceOutcome {
  try {
    const outcome = parseArgv(ARGUMENTS, argv);
    return outcome.kind === "parsed"
      ? { kind: "parsed", values: _defined(outcome.values) }
      : outcome;
  } catch (error) {
    if (error instanceof ArgvError) return { kind: "error", message: error.message };
    throw error;
  }
}

function theirs(argv: readonly string[]): ReferenceOutcome {
  const outcome = parseWithReference(REFERENCE, argv);
  return outcome.kind === "parsed" ? { kind: "parsed", values: _defined(outcome.values) } : outcome;
}

function _defined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

Deno.test("parseArgv() agrees with argparse on every hand-written tricky command line", () => {
  const kinds = new Set<string>();
  for (const argv of TRICKY_COMMAND_LINES) {
    const expected = theirs(argv);
    assert.deepEqual(ours(argv), expected, JSON.stringify(argv));
    kinds.add(expected.kind === "error" ? expected.message.replace(/^argument [^:]+: /, "") : "");
  }
  // The list reaches every kind of outcome and error, so agreement means something.
  for (
    const needle of [
      /^ambiguous option: /,
      /^ignored explicit argument /,
      /^expected one argument$/,
      /^invalid choice: /,
      /^not allowed with argument /,
      /^unrecognized arguments: /,
      /^there is no password flag/,
      /^must be /,
      /^invalid FLAG /,
      /^FLAG is empty/,
    ]
  ) {
    assert.ok([...kinds].some((kind) => needle.test(kind)), `a tricky case gives ${needle}`);
  }
  const outcomes = TRICKY_COMMAND_LINES.map((argv) => theirs(argv).kind);
  assert.ok(outcomes.includes("parsed") && outcomes.includes("stopped"));
});

Deno.test("parseArgv() agrees with argparse on 4000 seeded random command lines", () => {
  const random = seededRandom(20261129);
  const counts = { parsed: 0, stopped: 0, error: 0 };
  for (let i = 0; i < 4000; i++) {
    const argv = randomCommandLine(random, ARGUMENTS);
    const expected = theirs(argv);
    assert.deepEqual(ours(argv), expected, JSON.stringify(argv));
    counts[expected.kind]++;
  }
  // Both valid and invalid lines are generated in numbers.
  assert.ok(
    counts.parsed > 400 && counts.error > 400 && counts.stopped > 20,
    JSON.stringify(counts),
  );
});

Deno.test("formatUsage() and formatHelp() give argparse's text byte for byte, with and without colour", () => {
  for (const color of [false, true]) {
    const reference = buildReference(color);
    const theme = color ? THEME : NO_THEME;
    assert.equal(formatUsage(HELP_TEXT, theme), reference.format_usage(), `usage, color ${color}`);
    assert.equal(
      formatHelp(HELP_TEXT, ARGUMENTS, theme),
      reference.format_help(),
      `help, color ${color}`,
    );
  }
});
