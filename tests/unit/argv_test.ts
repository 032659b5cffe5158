import assert from "node:assert/strict";
import { inspect } from "node:util";
import { parseArgv } from "../../lib/_argv.ts";
import { argparseRepr } from "../../lib/_argv_repr.ts";
import { type ArgvArgument, ArgvError, ArgvValueError } from "../../lib/_argv_types.ts";
import { buildReference, parseWithReference } from "../support/argparse_reference.ts";
import { randomCommandLine, seededRandom } from "../support/argv_cases.ts";

function count(text: string): number {
  if (!/^\d+$/.test(text)) throw new ArgvValueError(`not a count: ${text}`);
  return Number(text);
}

/** A table unlike releasemon's: a required positional, string defaults and consts, -x/-xy. */
const TABLE: readonly ArgvArgument[] = [
  { names: ["-h", "--help"], action: "stop", help: "show help" },
  { names: ["-v", "--verbose"], action: "store_true", help: "more" },
  { names: ["-x"], action: "store_true", help: "x" },
  { names: ["-xy", "--xylophone"], metavar: "N", type: count, default: "7", help: "xy" },
  { names: ["-n", "--name"], nargs: "?", const: "12", type: count, help: "n" },
  { names: ["-c", "--color"], action: "append", choices: ["red", "blue"], help: "c" },
  { names: ["-q"], exclusive: "noise", action: "store_true", help: "q" },
  { names: ["--loud"], exclusive: "noise", action: "store_true", help: "l" },
  { names: ["--secret"], action: "refuse", message: "no secrets here", help: null },
  { names: ["src"], metavar: "SRC", help: "source" },
  { names: ["mode"], nargs: "?", default: "9", type: count, help: "mode" },
  { names: ["rest"], nargs: "*", help: "rest" },
];

function parsed(argv: string[]): Record<string, unknown> {
  const outcome = parseArgv(TABLE, argv);
  assert.equal(outcome.kind, "parsed", JSON.stringify(argv));
  return (outcome as { values: Record<string, unknown> }).values;
}

function failure(argv: string[]): string {
  try {
    parseArgv(TABLE, argv);
  } catch (error) {
    assert.ok(error instanceof ArgvError, String(error));
    return error.message;
  }
  throw new assert.AssertionError({ message: `no error for ${JSON.stringify(argv)}` });
}

Deno.test("parseArgv() fills defaults, converting string defaults and consts with the type", () => {
  assert.deepEqual(parsed(["a"]), {
    verbose: false,
    x: false,
    xylophone: 7,
    name: undefined,
    color: undefined,
    q: false,
    loud: false,
    src: "a",
    mode: 9,
    rest: [],
  });
  assert.equal(parsed(["a", "-n"]).name, 12);
  assert.equal(parsed(["a", "-n", "3"]).name, 3);
});

Deno.test("parseArgv() reads options anywhere, =, attached values and combined flags", () => {
  const values = parsed(["-vx", "a", "-xy=3", "4", "-cred", "b", "--color=blue", "c"]);
  assert.deepEqual(
    [values.verbose, values.x, values.xylophone, values.src, values.mode, values.rest],
    [true, true, 3, "a", 4, ["b", "c"]],
  );
  assert.deepEqual(values.color, ["red", "blue"]);
  assert.equal(parsed(["--xylo", "5", "a"]).xylophone, 5);
  assert.deepEqual(parsed(["a", "--", "5", "-v", "--x"]).rest, ["-v", "--x"]);
  assert.deepEqual(parsed(["a", "5", "--", "--"]).rest, ["--"], "only the first -- goes");
});

Deno.test("parseArgv() stops at help, after the options before it", () => {
  assert.deepEqual(parseArgv(TABLE, ["-v", "--help", "--bogus"]), {
    kind: "stopped",
    dest: "help",
  });
  assert.deepEqual(parseArgv(TABLE, ["-vh"]), { kind: "stopped", dest: "help" });
  assert.equal(failure(["-xy", "z", "-h"]), "argument -xy/--xylophone: not a count: z");
});

Deno.test("parseArgv() gives argparse's message for each kind of error", () => {
  const cases: [string[], string][] = [
    [[], "the following arguments are required: SRC"],
    [["a", "--bogus", "-z"], "unrecognized arguments: --bogus -z"],
    [
      ["a", "--=1"],
      "ambiguous option: --=1 could match --help, --verbose, --xylophone, --name, --color, " +
      "--loud, --secret",
    ],
    [["--v", "a", "-xy"], "argument -xy/--xylophone: expected one argument"],
    [
      ["a", "-c", "green"],
      "argument -c/--color: invalid choice: 'green' (choose from 'red', 'blue')",
    ],
    [["a", "-q", "--loud"], "argument --loud: not allowed with argument -q"],
    [["a", "--verbose=1"], "argument -v/--verbose: ignored explicit argument '1'"],
    [["a", "-v=1"], "argument -v/--verbose: ignored explicit argument '1'"],
    [["a", "--secret", "s"], "no secrets here"],
    [["a", "b"], "argument mode: not a count: b"],
    [["a", "-n", "x"], "argument -n/--name: not a count: x"],
  ];
  for (const [argv, message] of cases) assert.equal(failure(argv), message, JSON.stringify(argv));
});

Deno.test("parseArgv() lets other errors from a type through", () => {
  const broken: ArgvArgument[] = [{
    names: ["--n"],
    type: () => {
      throw new RangeError("bug");
    },
  }];
  assert.throws(() => parseArgv(broken, ["--n", "1"]), RangeError);
});

Deno.test("parseArgv() agrees with argparse on a table unlike releasemon's", () => {
  const reference = buildReference(false, TABLE);
  const random = seededRandom(7);
  for (let i = 0; i < 1500; i++) {
    const argv = randomCommandLine(random, TABLE);
    const expected = parseWithReference(reference, argv);
    let actual;
    try {
      actual = parseArgv(TABLE, argv);
    } catch (error) {
      if (!(error instanceof ArgvError)) throw error;
      actual = { kind: "error", message: error.message };
    }
    assert.deepEqual(actual, expected, JSON.stringify(argv));
  }
});

Deno.test("argparseRepr() quotes as node:util inspect does under Deno", () => {
  const random = seededRandom(11);
  const alphabet = [
    "a",
    "'",
    '"',
    "`",
    "\\",
    "\n",
    "\t",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "é",
    "😀",
  ];
  const samples = ["", "loud", "it's", "\ud800", "a\n".repeat(60), "q".repeat(10_003)];
  for (let i = 0; i < 500; i++) {
    const length = Math.floor(random() * 120);
    samples.push(Array.from({ length }, () => alphabet[Math.floor(random() * 13)]).join(""));
  }
  for (const text of samples) assert.equal(argparseRepr(text), inspect(text), JSON.stringify(text));
  assert.equal(argparseRepr("it's"), `"it's"`);
  assert.equal(argparseRepr("x\ny"), "'x\\ny'");
});
