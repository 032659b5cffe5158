import assert from "node:assert/strict";
import { formatHelp, formatUsage, wrap } from "../../lib/_argv_help.ts";
import type { ArgvArgument } from "../../lib/_argv_types.ts";
import { HELP_TEXT } from "../../lib/_config_parser.ts";
import { NO_THEME, THEME } from "../../lib/config_help.ts";
import { buildReference, wrapWithReference } from "../support/argparse_reference.ts";
import { seededRandom } from "../support/argv_cases.ts";

/** Every kind of entry: flags, values, optional values, choices, hidden, positionals, no help. */
const TABLE: readonly ArgvArgument[] = [
  { names: ["-h", "--help"], action: "stop", help: "show %(prog)s's help, 100%% of it" },
  { names: ["-v"], action: "store_true", help: "short flag" },
  { names: ["-xy", "--xylophone"], metavar: "N", default: 7, help: "xy (default: %(default)s)" },
  { names: ["--name"], nargs: "?", const: "12", help: "" },
  { names: ["--color"], action: "append", choices: ["red", "blue"], help: "   " },
  { names: ["--a-rather-long-option-name"], help: "wraps " + "word ".repeat(30) },
  { names: ["--secret"], action: "refuse", message: "no", help: null },
  { names: ["--w"], section: "words", help: "a-very-long-word-".repeat(5) },
  { names: ["src"], section: "inputs", metavar: "SRC", help: "source" },
  { names: ["rest"], section: "inputs", nargs: "*", help: "the rest" },
];

Deno.test("formatHelp() lays out every kind of entry as argparse does", () => {
  for (const color of [false, true]) {
    const reference = buildReference(color, TABLE);
    const theme = color ? THEME : NO_THEME;
    assert.equal(formatHelp(HELP_TEXT, TABLE, theme), reference.format_help(), `color ${color}`);
    assert.equal(formatUsage(HELP_TEXT, theme), reference.format_usage());
  }
  const help = formatHelp(HELP_TEXT, TABLE, NO_THEME);
  assert.ok(help.includes("  -h, --help            show releasemon's help, 100% of it\n"));
  assert.match(help, /\n {2}--color \{red,blue\} +\n/, "choices as metavar, blank help");
  assert.ok(help.includes("xy (default: 7)"));
  assert.ok(!help.includes("--secret"));
});

Deno.test("wrap() fills lines greedily and cuts only words longer than a line", () => {
  assert.deepEqual(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
  assert.deepEqual(wrap("aa bb cc", 4), ["aa", "bb", "cc"]);
  assert.deepEqual(wrap("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
  assert.deepEqual(wrap("ab 😀😀", 3), ["ab", "😀", "😀"]);
  assert.deepEqual(wrap("a\u00a0b c", 3), ["a\u00a0b", "c"], "no-break space keeps words");
  assert.deepEqual(wrap("", 10), []);
});

Deno.test("wrap() agrees with argparse's textwrap on random text and widths", () => {
  const random = seededRandom(3);
  const pieces = [
    "a",
    "bb",
    "ccc",
    "a-very-long-word",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\u00a0",
    "😀",
    "é",
  ];
  for (let i = 0; i < 2000; i++) {
    const length = Math.floor(random() * 40);
    const raw = Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)]);
    const text = raw.join("").replace(/[ \t\n\r\f\v]+/g, " ").trim(); // as help text reaches it
    const width = 1 + Math.floor(random() * 20);
    assert.deepEqual(
      wrap(text, width),
      wrapWithReference(text, width),
      JSON.stringify([text, width]),
    );
  }
});
