/**
 * Command lines for the differential tests of `lib/_argv.ts` against argparse: a hand-written list
 * of tricky ones (every feature, every kind of error, odd input) and a seeded generator of random
 * ones built from a table of arguments.
 *
 * @module
 */
import type { ArgvArgument } from "../../lib/_argv_types.ts";

/** Hand-written command lines: superfsmon entries, every feature and error, odd input. */
export const TRICKY_COMMAND_LINES: readonly (readonly string[])[] = [
  // superfsmon-style supervisord entries, options anywhere
  ["-e", "1", "-rd", "30", "/app/.version", "web", "-g", "workers"],
  ["/app/.version", "web", "app2", "-e", "1", "-g", "workers"],
  ["-g", "workers", "/app/.version", "-e", "0", "app1", "app2"],
  ["-rd", "3", "/app/.version", "-e", "1", "app1", "-fd", "2", "app2", "-g", "workers"],
  ["/v", "web", "-pre", "echo hi", "-post", "notify $RELEASEMON_OUTCOME"],
  ["/v", "web", "--pre-restart=echo a=b", "--post-restart", "x"],
  // = and attached forms, single- and multi-letter single-dash options
  ["-g=workers", "--enable=1", "/v", "web"],
  ["-gworkers", "-e1", "/v"],
  ["-e=", "/v", "web"],
  ["-e", "", "/v", "web"],
  ["-rd=5", "-fd=.5", "/v", "web"],
  ["-rd5", "/v", "web"],
  ["-pre=x", "-post=y", "/v", "web"],
  ["-prex", "/v", "web"],
  ["-e 1", "/v", "web"],
  ["-s=unix:///run/s.sock", "/v", "-a"],
  // combined single-letter flags
  ["-ae1", "/v"],
  ["-ab", "/v"],
  ["-a=x", "/v"],
  ["-a=", "/v"],
  ["-a-", "/v"],
  ["-ah", "/v"],
  ["-ah=x", "/v"],
  ["-hx"],
  ["-h=x"],
  ["-ag", "g1", "/v"],
  // abbreviations, ambiguity
  ["--fixed=2", "--rand", "3", "/v", "web"],
  ["--fl", "redis://h", "/v", "web"],
  ["--fleet-", "x", "/v", "web"],
  ["--fleet-n=web", "--fleet", "redis://h", "/v", "web"],
  ["--re", "/v", "web"],
  ["--rev", "/v", "web"],
  ["--h"],
  ["--he"],
  ["--vers"],
  ["-r", "3", "/v", "web"],
  ["-f", "3", "/v", "web"],
  ["-pr", "x", "/v", "web"],
  ["-po", "x", "/v", "web"],
  ["-pos", "x", "/v", "web"],
  ["--=x", "/v"],
  ["-=x", "/v"],
  // help and version stop at once, but not before an earlier error
  ["/v", "--help", "--bogus"],
  ["-e", "maybe", "-h"],
  ["-h", "-e", "maybe"],
  ["--version", "-rd"],
  ["--help=x"],
  ["--check=yes", "/v", "web"],
  // the refused password flag
  ["--password", "hunter2", "/v", "web"],
  ["--password=hunter2", "/v", "web"],
  ["-p", "hunter2", "/v", "web"],
  ["-phunter2", "/v", "web"],
  ["/v", "web", "--password"],
  ["--pass", "x", "/v"],
  ["--passw=x", "/v"],
  ["-p", "-a", "/v"],
  // --disable [FLAG] and the -e/--disable pair
  ["/v", "web", "--disable"],
  ["--disable", "/v", "web"],
  ["--disable", "off", "/v", "web"],
  ["--disable=", "/v", "web"],
  ["--disable", "--", "/v", "web"],
  ["-e", "1", "--disable", "yes", "/v", "web"],
  ["--disable", "-e", "1", "/v", "web"],
  ["--disable", "-e", "bad", "/v", "web"],
  ["-e", "1", "-e", "0", "/v", "web"],
  // values that start with "-": negative numbers are values, other dashes are options
  ["-rd", "-5", "/v", "web"],
  ["-rd", "-.5", "/v", "web"],
  ["-rd", "-1e3", "/v", "web"],
  ["-rd", "-x", "/v", "web"],
  ["-rd", "-e", "/v", "web"],
  ["-pre", "-x y", "/v", "web"],
  ["-pre", "--foo bar", "/v", "web"],
  ["/v", "-5", "web"],
  ["/v", "-5=3"],
  // missing values
  ["-rd"],
  ["/v", "web", "-g"],
  ["-g", "--", "x", "/v"],
  ["--log-level"],
  // choices
  ["--log-level", "loud", "/v", "web"],
  ["--log-level=debug", "--log-format=json", "/v", "web"],
  ["--log-format", "it's", "/v", "web"],
  ["--log-format", "a\"b'c", "/v", "web"],
  ["--fleet-on-error", "x\ny", "/v"],
  ["--fleet-on-error", "\x1b[1m\u0085é😀", "/v"],
  ["--fleet-on-error", "a\n".repeat(50), "/v"],
  ["--log-level", "", "/v"],
  ["--log-level", "DEBUG", "/v"],
  // types that refuse
  ["-fd", "abc", "/v", "web"],
  ["-fd", "9999999", "/v", "web"],
  ["--settle", "0", "/v", "web"],
  ["--batch-size", "0", "/v", "web"],
  ["--fleet-lease", "0.5", "/v", "web"],
  ["-s", "ftp://host", "/v", "web"],
  ["--ready-url", "http://u:secret@h/", "/v", "-a"],
  ["--fleet", "redis://host:6379/x", "/v", "-a"],
  ["--fleet-name", "bad name", "/v", "-a"],
  ["-g", "a:b", "/v"],
  ["-g", "", "/v"],
  // repeated flags: the last one wins, -g appends
  ["-rd", "1", "-rd", "2", "/v", "web"],
  ["-g", "a", "-g", "b", "--group=a", "/v"],
  ["--check", "--check", "/v", "web"],
  // unrecognized arguments, in command-line order
  ["--bogus", "/v", "web"],
  ["--bogus=1", "/v", "-x", "web", "---x"],
  ["--bogus", "5", "/v", "web"],
  ["-z", "/v"],
  // -- and positionals
  ["/v", "--", "-e", "1"],
  ["--", "/v", "web"],
  ["/v", "web", "--"],
  ["--", "--", "/v", "web"],
  ["/v", "--", "--", "web"],
  ["--"],
  ["/v", "-", "web"],
  ["-"],
  [],
  [""],
  ["", ""],
  ["/v", "a=b", "é", "😀", "\u0000"],
  ["/v", "--foo bar", "-x y"],
  ["/ve rsion", "web"],
];

/** A small deterministic generator (mulberry32): the same seed, the same command lines. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const _VALUES: Readonly<Record<string, readonly string[]>> = {
  SECONDS: ["0", "5", "0.25", ".5", " 7 ", "-5", "abc", "1e3", "0.0004", "9999999", "", "1."],
  FLAG: ["1", "0", "yes", "OFF", " no ", "maybe", "", "-1", "true"],
  N: ["1", "0", "2", "x", "-3", "1000001"],
  URL: ["unix:///run/s.sock", "http://h:9001", "ftp://x", "redis://h:6379/0", "http://u:p@h/"],
  NAME: ["web-3", "bad name", "", "alice"],
  ID: ["web-3", "a/b"],
  GROUP: ["workers", "a:b", "", "g1"],
  COMMAND: ["echo hi", "", "-x", "--", "-e 1", "a=b"],
  FILE: ["/etc/supervisor/supervisord.conf", "-", "x y"],
};
const _POSITIONALS = ["/v", "web", "g:*", "", "-", "--", "-5", "é", "😀", "a=b", "-x y", "x:y:z"];
const _ODD = ["--", "-", "", "=", "-=x", "--=x", "--bogus", "-x", "-zz", "---x", "-1", "-h"];

function _pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** A value for `argument`: often valid, sometimes not, sometimes a choice that does not exist. */
function _value(random: () => number, argument: ArgvArgument): string {
  if (argument.choices) {
    return random() < 0.7 ? _pick(random, argument.choices) : _pick(random, ["x", "", "INFO"]);
  }
  return _pick(random, _VALUES[argument.metavar ?? ""] ?? _POSITIONALS);
}

/** One way of writing `argument`'s name: as is, or cut to a prefix (maybe ambiguous). */
function _name(random: () => number, argument: ArgvArgument): string {
  const name = _pick(random, argument.names);
  if (random() < 0.2 && name.length > 3) {
    return name.slice(0, 2 + Math.floor(random() * (name.length - 2)));
  }
  return name;
}

/** The strings for one option: separate value, "=value", attached, missing, or combined flags. */
function _option(random: () => number, args: readonly ArgvArgument[]): string[] {
  const options = args.filter((argument) => argument.names[0]!.startsWith("-"));
  const argument = _pick(random, options);
  const name = _name(random, argument);
  const action = argument.action ?? "store";
  const takesValue = action === "store" || action === "append" || argument.nargs === "?";
  const roll = random();
  if (!takesValue) {
    if (roll < 0.1) return [`${name}=${_value(random, argument)}`];
    if (roll < 0.25 && !name.startsWith("--")) {
      const flag = _pick(random, ["a", "h", "e1", "g", "z", "x", "-"]);
      return [`${name}${flag}`];
    }
    return [name];
  }
  const value = _value(random, argument);
  if (roll < 0.5) return [name, value];
  if (roll < 0.75) return [`${name}=${value}`];
  if (roll < 0.9) return [`${name}${value}`];
  return [name];
}

/** A random command line from `args`: 0 to 9 pieces of options, positionals and odd strings. */
export function randomCommandLine(random: () => number, args: readonly ArgvArgument[]): string[] {
  const argv: string[] = [];
  const pieces = Math.floor(random() * 10);
  for (let i = 0; i < pieces; i++) {
    const roll = random();
    if (roll < 0.55) argv.push(..._option(random, args));
    else if (roll < 0.9) argv.push(_pick(random, _POSITIONALS));
    else argv.push(_pick(random, _ODD));
  }
  return argv;
}
