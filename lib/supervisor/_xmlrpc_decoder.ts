/**
 * The grammar side of XML-RPC decoding: walks the scanner's tokens, enforces element nesting and
 * the limits, and builds values. Nested arrays and structs live on an explicit stack bounded by
 * `maxDepth`, so no document can overflow the call stack. `xmlrpc.ts` is the public face.
 *
 * @module
 */

import { XmlRpcSyntaxError } from "../errors.ts";
import { isXmlSpace } from "./_xml_chars.ts";
import { type TokenKind, XmlScanner } from "./_xml_scanner.ts";
import {
  decodeBase64,
  type Fail,
  parseBoolean,
  parseDateTime,
  parseDouble,
  parseInteger,
  type XmlRpcStruct,
  type XmlRpcValue,
} from "./_xmlrpc_values.ts";

/** Bounds on what the decoder accepts; exceeding one is an `XmlRpcSyntaxError`. */
export interface DecodeLimits {
  /** Longest document, in UTF-16 code units. @default 16 MiB (16_777_216) */
  maxChars?: number;
  /** Most arrays and structs nested inside each other. @default 64 */
  maxDepth?: number;
  /** Most values in one document, counting every nested one. @default 1_000_000 */
  maxItems?: number;
}

/**
 * The longest document decoded by default (16 MiB). The transport reads at most this many bytes
 * of a response body, and N bytes of UTF-8 are at most N UTF-16 code units, so every answer it
 * accepts fits here and a bigger one is rejected before any decoding.
 */
export const MAX_DOCUMENT_CHARS = 16 * 1024 * 1024;
const DEFAULT_MAX_CHARS = MAX_DOCUMENT_CHARS;
const DEFAULT_MAX_DEPTH = 64;
const DEFAULT_MAX_ITEMS = 1_000_000;

type Convert = (text: string, fail: Fail, tag: string) => XmlRpcValue;

const nil: Convert = (text, fail, tag) => isXmlSpace(text) ? null : fail(`<${tag}> must be empty`);

/** Scalar element → converter of its text, like supervisord's `unmarshallers` table. */
const SCALARS: ReadonlyMap<string, Convert> = new Map<string, Convert>([
  ["string", (text) => text],
  ["int", parseInteger],
  ["i4", parseInteger],
  ["i8", parseInteger],
  ["boolean", parseBoolean],
  ["double", parseDouble],
  ["dateTime.iso8601", parseDateTime],
  ["base64", decodeBase64],
  ["nil", nil],
  ["ex:nil", nil],
]);

type Frame =
  | { kind: "array"; items: XmlRpcValue[] }
  | { kind: "struct"; members: XmlRpcStruct; name: string };

/** Marks "a container was opened; its items come next" where a finished value would be. */
const OPENED: unique symbol = Symbol("opened");

/** Sets a member without ever invoking the `__proto__` setter, so no prototype can change. */
function setMember(struct: XmlRpcStruct, name: string, value: XmlRpcValue): void {
  if (name === "__proto__") {
    Object.defineProperty(struct, name, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    struct[name] = value;
  }
}

function checkLimit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} ${value}: it must be a positive integer`);
  }
  return value;
}

/** One document's parse: the scanner plus XML-RPC's grammar. */
export class Decoder {
  readonly scanner: XmlScanner;
  readonly #maxDepth: number;
  readonly #maxItems: number;
  #items = 0;
  /** Where the scalar being converted starts, for {@linkcode Decoder.#failScalar}. */
  #scalarStart = 0;
  readonly #failScalar: Fail = (detail) => this.scanner.fail(detail, this.#scalarStart);

  /** @param what the kind of document, for messages ("response", "call") */
  constructor(xml: string, what: string, limits: DecodeLimits = {}) {
    const maxChars = checkLimit("maxChars", limits.maxChars, DEFAULT_MAX_CHARS);
    this.#maxDepth = checkLimit("maxDepth", limits.maxDepth, DEFAULT_MAX_DEPTH);
    this.#maxItems = checkLimit("maxItems", limits.maxItems, DEFAULT_MAX_ITEMS);
    if (xml.length > maxChars) {
      const size = `${xml.length} characters long, more than the limit of ${maxChars}`;
      throw new XmlRpcSyntaxError(
        `Cannot decode XML-RPC ${what}: the document is ${size}`,
        maxChars,
      );
    }
    this.scanner = new XmlScanner(xml, what);
  }

  /** Moves to the next token, skipping white space between elements. */
  nextTag(): TokenKind {
    const scanner = this.scanner;
    if (scanner.next() === "text" && isXmlSpace(scanner.text)) scanner.next();
    return scanner.kind;
  }

  isOpen(name: string): boolean {
    return this.scanner.kind === "open" && this.scanner.name === name;
  }

  isClose(name: string): boolean {
    return this.scanner.kind === "close" && this.scanner.name === name;
  }

  /** Fails with "expected <wanted>, found <current token>" unless `ok`. */
  expect(ok: boolean, wanted: string): void {
    if (!ok) {
      const scanner = this.scanner;
      scanner.fail(`expected ${wanted}, found ${scanner.describe()}`, scanner.start);
    }
  }

  /** Moves to `<name>` and says whether it was self-closing. */
  expectOpen(name: string): boolean {
    this.nextTag();
    this.expect(this.isOpen(name), `"<${name}>"`);
    return this.scanner.selfClosing;
  }

  expectClose(name: string): void {
    this.nextTag();
    this.expect(this.isClose(name), `"</${name}>"`);
  }

  /** After the root element only white space, comments and PIs may follow. */
  finish(): void {
    this.expect(this.nextTag() === "end", "the end of the document");
  }

  /** The text of `<name>…</name>`, or "" for `<name/>`. */
  textIn(name: string): string {
    if (this.expectOpen(name)) return "";
    const scanner = this.scanner;
    const text = scanner.next() === "text" ? scanner.text : "";
    if (scanner.kind === "text") scanner.next();
    this.expect(this.isClose(name), `"</${name}>"`);
    return text;
  }

  /** `<value>…</value></outer>`, with `<outer>` already read. */
  valueIn(outer: string): XmlRpcValue {
    const value = this.expectOpen("value") ? this.#count("") : this.#value();
    this.expectClose(outer);
    return value;
  }

  #count<T extends XmlRpcValue>(value: T): T {
    if (++this.#items > this.#maxItems) {
      this.scanner.fail(`more than ${this.#maxItems} values`, this.scanner.start);
    }
    return value;
  }

  /** A whole value, `<value>` already read. */
  #value(): XmlRpcValue {
    const stack: Frame[] = [];
    for (;;) {
      let value = this.#valueContent(stack);
      // Hand finished values to their containers until one of them opens a new <value>.
      for (;;) {
        const top = stack.at(-1);
        // With an empty stack, #valueContent cannot have returned OPENED: it pushes a frame.
        if (top === undefined) return value as XmlRpcValue;
        if (value !== OPENED) {
          if (top.kind === "array") top.items.push(value);
          else {
            setMember(top.members, top.name, value);
            this.expectClose("member");
          }
        }
        const next = this.#nextItem(top);
        if (next === "value") break;
        if (next === "empty") {
          value = this.#count("");
        } else {
          stack.pop();
          value = top.kind === "array" ? top.items : top.members;
          this.expectClose("value");
        }
      }
    }
  }

  /** What follows `<value>`: a finished value (with `</value>` read), or a pushed container. */
  #valueContent(stack: Frame[]): XmlRpcValue | typeof OPENED {
    this.#count(null);
    const scanner = this.scanner;
    const leading = scanner.next() === "text" ? scanner.text : "";
    const leadingStart = scanner.start;
    if (scanner.kind === "text") scanner.next();
    if (this.isClose("value")) return leading; // untyped: a string, white space and all
    this.expect(scanner.kind === "open", 'a value type or "</value>"');
    if (!isXmlSpace(leading)) {
      const shown = JSON.stringify(leading.length > 24 ? `${leading.slice(0, 24)}…` : leading);
      scanner.fail(`expected a value type, found text ${shown} before it`, leadingStart);
    }
    const tag = scanner.name;
    let value: XmlRpcValue;
    if (tag === "array" || tag === "struct") {
      if (stack.length >= this.#maxDepth) {
        scanner.fail(`arrays and structs nested deeper than ${this.#maxDepth}`, scanner.start);
      }
      if (scanner.selfClosing) {
        value = tag === "array" ? [] : {};
      } else if (tag === "struct") {
        stack.push({ kind: "struct", members: {}, name: "" });
        return OPENED;
      } else if (!this.expectOpen("data")) {
        stack.push({ kind: "array", items: [] });
        return OPENED;
      } else {
        this.expectClose("array"); // <data/>
        value = [];
      }
    } else {
      value = this.#scalar(tag);
    }
    this.expectClose("value");
    return value;
  }

  /** Opens the next `<value>` of a container ("value", "empty" for `<value/>`), or closes it. */
  #nextItem(frame: Frame): "value" | "empty" | "done" {
    this.nextTag();
    if (frame.kind === "array") {
      if (this.isClose("data")) {
        this.expectClose("array");
        return "done";
      }
      this.expect(this.isOpen("value"), '"<value>" or "</data>"');
    } else {
      if (this.isClose("struct")) return "done";
      this.expect(this.isOpen("member") && !this.scanner.selfClosing, '"<member>" or "</struct>"');
      frame.name = this.textIn("name");
      this.expectOpen("value");
    }
    return this.scanner.selfClosing ? "empty" : "value";
  }

  /** `<tag>text</tag>` through the table of converters; the scanner is on `<tag>`. */
  #scalar(tag: string): XmlRpcValue {
    const scanner = this.scanner;
    this.#scalarStart = scanner.start;
    const convert = SCALARS.get(tag);
    if (convert === undefined) {
      return scanner.fail(`unknown value type ${scanner.describe()}`, scanner.start);
    }
    let text = "";
    if (!scanner.selfClosing) {
      if (scanner.next() === "text") {
        text = scanner.text;
        scanner.next();
      }
      this.expect(this.isClose(tag), `"</${tag}>"`);
    }
    return convert(text, this.#failScalar, tag);
  }
}
