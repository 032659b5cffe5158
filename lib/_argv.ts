/**
 * A small command-line parser that does what releasemon's command line needs and no more, the way
 * Python's argparse (and npm argparse 3.0.4, its port) does it with `allow_abbrev` on and
 * `parse_intermixed_args`: long and short options (multi-letter single-dash ones too), `=` and
 * attached values, unambiguous prefixes of options, `--`, negative-number-like values, options
 * with one value, an optional value (`nargs: "?"` with `const`) or none (flags), appending
 * options, choices, value types that refuse with {@link ArgvValueError}, mutually exclusive
 * options, and positionals with one, an optional or any number of values anywhere on the line.
 * Types: `_argv_types.ts`; help text: `_argv_help.ts`. Pure: no `Deno.*`.
 *
 * @module
 */
import { argparseRepr } from "./_argv_repr.ts";
import {
  type ArgvArgument,
  ArgvError,
  type ArgvOutcome,
  ArgvValueError,
  arity,
  destOf,
  displayName,
  isOption,
} from "./_argv_types.ts";

/** One reading of an option string: which argument, by which name, with what attached value. */
interface _Reading {
  argument: ArgvArgument | undefined;
  option: string;
  separator: "=" | "" | undefined;
  attached: string | undefined;
}

class _Stop {
  constructor(readonly dest: string) {}
}

const _NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * Parses `argv` against `args` as argparse's `parse_intermixed_args` does.
 *
 * @throws {ArgvError} with argparse's message when the command line is wrong
 */
export function parseArgv(args: readonly ArgvArgument[], argv: readonly string[]): ArgvOutcome {
  try {
    return { kind: "parsed", values: new _Parse(args, argv).run() };
  } catch (error) {
    if (error instanceof _Stop) return { kind: "stopped", dest: error.dest };
    throw error;
  }
}

class _Parse {
  readonly #options = new Map<string, ArgvArgument>();
  readonly #positionals: ArgvArgument[];
  readonly #values: Record<string, unknown> = {};
  readonly #seen = new Set<ArgvArgument>(); // given on the line (mutual exclusion)
  readonly #taken = new Set<ArgvArgument>(); // acted on (defaults are converted for the rest)
  readonly #negativeOptions: boolean;
  #pattern = ""; // per argv string: "O" option, "A" argument, "-" the first "--"
  readonly #readings = new Map<number, _Reading[]>();

  constructor(readonly args: readonly ArgvArgument[], readonly argv: readonly string[]) {
    for (const argument of args) {
      if (isOption(argument)) {
        for (const name of argument.names) this.#options.set(name, argument);
      }
      const action = argument.action ?? "store";
      if (action === "stop" || action === "refuse") continue;
      this.#values[destOf(argument)] = action === "store_true"
        ? argument.default ?? false
        : argument.default;
    }
    this.#positionals = args.filter((argument) => !isOption(argument));
    this.#negativeOptions = [...this.#options.keys()].some((name) => _NEGATIVE_NUMBER.test(name));
  }

  run(): Record<string, unknown> {
    const { argv } = this;
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === "--") {
        this.#pattern += "-" + "A".repeat(argv.length - i - 1);
        break;
      }
      const readings = this.#readOptional(argv[i]!);
      if (readings) this.#readings.set(i, readings);
      this.#pattern += readings ? "O" : "A";
    }
    // Options first, wherever they are; what is left over goes to the positionals.
    const extras: { text: string; kind: string }[] = [];
    const lastOption = this.#pattern.lastIndexOf("O");
    let index = 0;
    while (index <= lastOption) {
      if (!this.#readings.has(index)) {
        extras.push({ text: argv[index]!, kind: this.#pattern[index]! });
        index++;
        continue;
      }
      index = this.#consumeOptional(index, extras);
    }
    for (; index < argv.length; index++) {
      extras.push({ text: argv[index]!, kind: this.#pattern[index]! });
    }
    let consumed = this.#consumePositionals(extras.filter((extra) => extra.kind !== "O"));
    const left = extras.filter((extra) => extra.kind === "O" || consumed-- <= 0);
    this.#convertDefaults();
    if (left.length > 0) {
      throw new ArgvError(`unrecognized arguments: ${left.map((extra) => extra.text).join(" ")}`);
    }
    return this.#values;
  }

  /** undefined: a positional; else every option `text` may mean (argument undefined: unknown). */
  #readOptional(text: string): _Reading[] | undefined {
    if (!text.startsWith("-")) return undefined;
    const exact = this.#options.get(text);
    if (exact) {
      return [{ argument: exact, option: text, separator: undefined, attached: undefined }];
    }
    if (text.length === 1) return undefined;
    const equals = text.indexOf("=");
    if (equals >= 0) {
      const option = text.slice(0, equals);
      const argument = this.#options.get(option);
      if (argument) return [{ argument, option, separator: "=", attached: text.slice(equals + 1) }];
    }
    const readings = this.#prefixReadings(text);
    if (readings.length > 0) return readings;
    if (_NEGATIVE_NUMBER.test(text) && !this.#negativeOptions) return undefined;
    if (text.includes(" ")) return undefined;
    return [{ argument: undefined, option: text, separator: undefined, attached: undefined }];
  }

  /** Abbreviations (and, after one dash, a one-letter option with its value attached). */
  #prefixReadings(text: string): _Reading[] {
    const equals = text.indexOf("=");
    const prefix = equals < 0 ? text : text.slice(0, equals);
    const separator = equals < 0 ? undefined : "=";
    const attached = equals < 0 ? undefined : text.slice(equals + 1);
    const short = text[1] === "-" ? undefined : text.slice(0, 2);
    const readings: _Reading[] = [];
    for (const [option, argument] of this.#options) {
      if (option === short) {
        readings.push({ argument, option, separator: "", attached: text.slice(2) });
      } else if (option.startsWith(prefix)) {
        readings.push({ argument, option, separator, attached });
      }
    }
    return readings;
  }

  /** Takes the option at `start` and its values; returns the index after them. */
  #consumeOptional(start: number, extras: { text: string; kind: string }[]): number {
    const readings = this.#readings.get(start)!;
    if (readings.length > 1) {
      const names = readings.map((reading) => reading.option).join(", ");
      throw new ArgvError(`ambiguous option: ${this.argv[start]} could match ${names}`);
    }
    let { argument, option, separator, attached } = readings[0]!;
    const taken: [ArgvArgument, string[]][] = [];
    for (;;) {
      if (argument === undefined) {
        extras.push({ text: this.argv[start]!, kind: "O" });
        return start + 1;
      }
      if (attached === undefined) {
        const takes = arity(argument);
        const next = this.#pattern[start + 1];
        if (takes === 1 && next !== "A") {
          throw new ArgvError(`argument ${displayName(argument)}: expected one argument`);
        }
        const count = takes !== 0 && next === "A" ? 1 : 0;
        taken.push([argument, this.argv.slice(start + 1, start + 1 + count)]);
        return this.#take(taken, start + 1 + count);
      }
      const takes = arity(argument);
      if (takes === 0 && option[1] !== "-" && attached !== "") {
        // "-ae1": a flag followed by more single-dash options in the same string.
        if (separator || attached.startsWith("-")) throw this.#ignored(argument, attached);
        taken.push([argument, []]);
        option = option[0] + attached[0]!;
        const following = this.#options.get(option);
        if (!following) {
          extras.push({ text: option[0] + attached, kind: "O" });
          return this.#take(taken, start + 1);
        }
        argument = following;
        attached = attached.slice(1);
        if (attached === "") [separator, attached] = [undefined, undefined];
        else if (attached.startsWith("=")) [separator, attached] = ["=", attached.slice(1)];
        else separator = "";
      } else if (takes !== 0) {
        taken.push([argument, [attached]]);
        return this.#take(taken, start + 1);
      } else {
        throw this.#ignored(argument, attached);
      }
    }
  }

  #ignored(argument: ArgvArgument, attached: string): ArgvError {
    return new ArgvError(
      `argument ${displayName(argument)}: ignored explicit argument ${argparseRepr(attached)}`,
    );
  }

  #take(taken: [ArgvArgument, string[]][], next: number): number {
    for (const [argument, texts] of taken) this.#act(argument, texts);
    return next;
  }

  /** Matches the positionals against the strings left over, as argparse's regular expressions. */
  #consumePositionals(extras: { text: string; kind: string }[]): number {
    const kinds = extras.map((extra) => extra.kind).join("");
    const patterns = this.#positionals.map((argument) =>
      argument.nargs === "?" ? "(-*A?-*)" : argument.nargs === "*" ? "(-*[A-]*)" : "(-*A-*)"
    );
    let counts: number[] = [];
    for (let n = patterns.length; n > 0; n--) {
      const match = new RegExp(`^${patterns.slice(0, n).join("")}`).exec(kinds);
      if (match) {
        counts = match.slice(1).map((group) => group?.length ?? 0);
        break;
      }
    }
    let start = 0;
    counts.forEach((count, i) => {
      const texts = extras.slice(start, start + count).map((extra) => extra.text);
      if (kinds.slice(start, start + count).includes("-")) texts.splice(texts.indexOf("--"), 1);
      this.#act(this.#positionals[i]!, texts);
      start += count;
    });
    const missing = this.#positionals.slice(counts.length).filter((argument) => !argument.nargs);
    if (missing.length > 0) {
      const names = missing.map(displayName).join(", ");
      throw new ArgvError(`the following arguments are required: ${names}`);
    }
    return start;
  }

  #act(argument: ArgvArgument, texts: string[]): void {
    this.#taken.add(argument);
    const value = this.#valueOf(argument, texts);
    if (isOption(argument) || texts.length > 0) {
      this.#seen.add(argument);
      const rivals = argument.exclusive === undefined
        ? []
        : this.args.filter((other) =>
          other !== argument && other.exclusive === argument.exclusive && this.#seen.has(other)
        );
      if (rivals.length > 0) {
        throw new ArgvError(
          `argument ${displayName(argument)}: not allowed with argument ${displayName(rivals[0]!)}`,
        );
      }
    }
    const dest = destOf(argument);
    switch (argument.action ?? "store") {
      case "store":
        this.#values[dest] = value;
        break;
      case "store_true":
        this.#values[dest] = true;
        break;
      case "append":
        this.#values[dest] = [...(this.#values[dest] as unknown[] | undefined) ?? [], value];
        break;
      case "stop":
        throw new _Stop(dest);
      case "refuse":
        throw new ArgvError(argument.message ?? `argument ${displayName(argument)}: not allowed`);
    }
  }

  /** The value of `argument` given `texts` (argparse's `_get_values`). */
  #valueOf(argument: ArgvArgument, texts: string[]): unknown {
    if (arity(argument) === 0) return texts;
    if (texts.length === 0 && argument.nargs === "?") {
      const value = isOption(argument) ? argument.const : argument.default;
      return typeof value === "string" ? this.#convert(argument, value) : value;
    }
    if (texts.length === 0 && argument.nargs === "*" && !isOption(argument)) {
      return argument.default ?? [];
    }
    if (argument.nargs === "*") return texts.map((text) => this.#checked(argument, text));
    return this.#checked(argument, texts[0]!);
  }

  #checked(argument: ArgvArgument, text: string): unknown {
    const value = this.#convert(argument, text);
    if (argument.choices && !argument.choices.includes(value as string)) {
      const choices = argument.choices.map(argparseRepr).join(", ");
      throw new ArgvError(
        `argument ${displayName(argument)}: invalid choice: ${
          argparseRepr(String(value))
        } (choose from ${choices})`,
      );
    }
    return value;
  }

  #convert(argument: ArgvArgument, text: string): unknown {
    if (!argument.type) return text;
    try {
      return argument.type(text);
    } catch (error) {
      if (!(error instanceof ArgvValueError)) throw error;
      throw new ArgvError(`argument ${displayName(argument)}: ${error.message}`, { cause: error });
    }
  }

  /** A string default of an argument not given goes through its type, as a given value would. */
  #convertDefaults(): void {
    for (const argument of this.args) {
      const dest = destOf(argument);
      if (this.#taken.has(argument) || typeof argument.default !== "string") continue;
      if (this.#values[dest] === argument.default) {
        this.#values[dest] = this.#convert(argument, argument.default);
      }
    }
  }
}
