/**
 * Seeded mutations of XML-RPC documents and hostile documents, for the codec's fuzz runs.
 *
 * A mutated document may be anything; decoding it must end in a value, an `XmlRpcFault` or an
 * `XmlRpcSyntaxError`, quickly. Hostile documents aim at the usual parser failures: deep nesting,
 * entity expansion, unterminated constructs, huge tokens, quadratic scans.
 *
 * @module
 */

import type { DecodeLimits } from "../../lib/supervisor/xmlrpc.ts";
import { processInfoResponse, type Rng } from "./xmlrpc_gen.ts";

// deno-fmt-ignore
const INSERTS = [
  "<value>", "</value>", "<struct>", "</struct>", "<member>", "</member>", "<name>", "<array>",
  "<data>", "</data>", "<int>", "</int>", "<i8>", "<double>", "<foo>", "</foo>", "<string/>",
  "<nil/>", "<ex:nil/>", "<value/>", "<params>", "<param>", "<fault>", "<methodResponse>",
  "<![CDATA[", "]]>", "<![CDATA[<x>&amp;]]>", "<!--", "-->", "<!-- c -->",
  "<?xml version='1.0'?>", "<?pi x?>", "<?",
  '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>',
  "<!ENTITY x SYSTEM 'file:///etc/passwd'>", "<!DOCTYPE x>", "&lol;", "&x;", "&amp;", "&lt;",
  "&#0;", "&#x0;", "&#13;", "&#x110000;", "&#99999999999999999999999;", "&#xD800;", "&#xFFFE;",
  "&#x1F600;", "&", "&#", "&#x;", "&#;", "&amp", "\uD800", "\uDFFF", "\uDFFF\uD800", "\u0000",
  "\u001F", "\uFFFE", "\uFFFF", "\r\n", "\r", " xmlns:ex='x'", '<value a="1">', "<value a=1>",
  "</", "<", ">", "/>", "<a b='<'>", "\ufeff",
];

// deno-fmt-ignore
const NUMBERS = [
  "9".repeat(400), "-0", "+1", "1e400", "-1e400", "99999999999", "9007199254740993",
  "9007199254740992", "-9007199254740992", "2147483648", "-2147483649", "0x10", "1_000", " 1 ",
  "NaN", "Infinity", "inf", ".5", "5.", "1e", "--1", "0".repeat(100) + "7",
];

// deno-fmt-ignore
const RENAMES = [
  ["int", "i8"], ["int", "double"], ["string", "base64"], ["string", "dateTime.iso8601"],
  ["value", "VALUE"], ["struct", "array"], ["array", "struct"], ["data", "member"],
  ["name", "nil"], ["params", "fault"], ["fault", "params"], ["boolean", "int"],
  ["member", "value"],
] as const;

function spot(rng: Rng, doc: string): number {
  const at = rng.int(doc.length + 1);
  if (rng.chance(0.5)) return at;
  const tag = doc.indexOf("<", at);
  return tag < 0 ? at : tag + rng.int(2) * (doc.indexOf(">", tag) + 1 - tag);
}

function span(rng: Rng, doc: string): [number, number] {
  const start = spot(rng, doc);
  return [start, Math.min(doc.length, start + 1 + rng.int(rng.chance(0.8) ? 40 : doc.length))];
}

const MUTATIONS: readonly ((rng: Rng, doc: string) => string)[] = [
  (rng, doc) => doc.slice(0, spot(rng, doc)),
  (rng, doc) => {
    const [start, end] = span(rng, doc);
    return doc.slice(0, start) + doc.slice(end);
  },
  (rng, doc) => {
    const [start, end] = span(rng, doc);
    const at = spot(rng, doc);
    return doc.slice(0, at) + doc.slice(start, end) + doc.slice(at);
  },
  (rng, doc) => {
    const [a, b] = [span(rng, doc), span(rng, doc)].sort((x, y) => x[0] - y[0]) as [
      [number, number],
      [number, number],
    ];
    if (a[1] > b[0]) return doc;
    return doc.slice(0, a[0]) + doc.slice(b[0], b[1]) + doc.slice(a[1], b[0]) +
      doc.slice(a[0], a[1]) + doc.slice(b[1]);
  },
  (rng, doc) => {
    const at = spot(rng, doc);
    return doc.slice(0, at) + rng.pick(INSERTS) + doc.slice(at);
  },
  (rng, doc) => {
    let start = rng.int(doc.length);
    while (start < doc.length && !/[0-9]/.test(doc[start] ?? "")) start++;
    let end = start;
    while (end < doc.length && /[0-9]/.test(doc[end] ?? "")) end++;
    return doc.slice(0, start) + rng.pick(NUMBERS) + doc.slice(end);
  },
  (rng, doc) => {
    const [from, to] = rng.pick(RENAMES);
    const at = doc.indexOf(`<${from}>`, rng.int(doc.length));
    return at < 0 ? doc : `${doc.slice(0, at + 1)}${to}${doc.slice(at + 1 + from.length)}`;
  },
  (rng, doc) => {
    const at = rng.int(doc.length);
    return doc.slice(0, at) + String.fromCharCode(rng.int(0x10000)) + doc.slice(at + 1);
  },
  (rng, doc) => {
    const at = spot(rng, doc);
    const depth = rng.range(1, rng.chance(0.9) ? 100 : 5000);
    const open = rng.pick(["<value><array><data>", "<value><struct><member><name>n</name>"]);
    return doc.slice(0, at) + open.repeat(depth) + doc.slice(at);
  },
];

/** `doc` after one to three random mutations. */
export function mutate(rng: Rng, doc: string): string {
  let result = doc;
  for (let n = rng.range(1, 3); n > 0; n--) result = rng.pick(MUTATIONS)(rng, result);
  return result;
}

/** A document built to hurt a parser, with the limits to decode it under (none: defaults). */
export interface HostileDocument {
  name: string;
  xml: string;
  limits?: DecodeLimits;
}

const HEAD = "<?xml version='1.0'?>\n<methodResponse><params><param>";
const TAIL = "</param></params></methodResponse>";

function wrapped(inner: string): string {
  return `${HEAD}${inner}${TAIL}`;
}

/** One of the hostile shapes, sized at random (up to ~20 MB for the rare million-deep one). */
export function hostileDocument(rng: Rng): HostileDocument {
  const n = rng.chance(0.01) ? 1_000_000 : rng.pick([10, 100, 1000, 10_000, 100_000]);
  const closed = rng.chance(0.5);
  const nest = (open: string, close: string, middle: string) =>
    wrapped(open.repeat(n) + middle + (closed ? close.repeat(n) : ""));
  const shapes: (() => HostileDocument)[] = [
    () => ({
      name: `${n} nested arrays`,
      xml: nest("<value><array><data>", "</data></array></value>", "<value>1</value>"),
    }),
    () => ({
      name: `${n} nested arrays, maxChars raised`,
      xml: nest("<value><array><data>", "</data></array></value>", "<value>1</value>"),
      limits: { maxChars: 64 * 1024 * 1024 },
    }),
    () => ({
      name: `${n} nested structs`,
      xml: nest(
        "<value><struct><member><name>a</name>",
        "</member></struct></value>",
        "<value/>",
      ),
    }),
    () => ({ name: `${n} unknown tags`, xml: nest("<a>", "</a>", "x") }),
    () => ({ name: `${n} nested values`, xml: nest("<value>", "</value>", "x") }),
    () => ({
      name: "billion laughs",
      xml: '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
        '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>' +
        wrapped("<value>&lol1;</value>"),
    }),
    () => ({
      name: "external entity",
      xml: '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + wrapped("<value>&x;</value>"),
    }),
    () => ({
      name: `string of ${n * 8} chars`,
      xml: wrapped(`<value>${"abc&lt;de".repeat(n)}</value>`),
    }),
    () => ({ name: `${n} bare ampersands`, xml: wrapped(`<value>${"&".repeat(n)}</value>`) }),
    () => ({
      name: `${n} comments in a string`,
      xml: wrapped(`<value>${"a<!---->".repeat(n)}</value>`),
    }),
    () => ({ name: `${n}-digit reference`, xml: wrapped(`<value>&#${"9".repeat(n)};</value>`) }),
    () => ({ name: `${n}-char tag name`, xml: wrapped(`<value><${"a".repeat(n)}>`) }),
    () => ({
      name: `${n} empty values, maxItems ${n >> 1}`,
      xml: wrapped(`<value><array><data>${"<value/>".repeat(n)}</data></array></value>`),
      limits: { maxItems: Math.max(1, n >> 1) },
    }),
    () => ({ name: "unterminated comment", xml: `<!--${processInfoResponse(3)}` }),
    () => ({ name: "unterminated CDATA", xml: wrapped(`<value><![CDATA[${"x".repeat(n)}`) }),
    () => ({ name: "unterminated PI", xml: `<?pi ${"x".repeat(n)}` }),
    () => ({ name: "unterminated attribute", xml: `<methodResponse a="${"x".repeat(n)}` }),
    () => ({
      name: `${n}-digit number`,
      xml: wrapped(`<value><${rng.pick(["int", "i8", "double"])}>${"1".repeat(n)}</int></value>`),
    }),
    () => ({
      name: `${n} duplicate members`,
      xml: wrapped(
        `<value><struct>${"<member><name>a</name><value><int>1</int></value></member>".repeat(n)}` +
          "</struct></value>",
      ),
    }),
    () => ({
      name: `${n} base64 quads`,
      xml: wrapped(`<value><base64>${"QUJD\n".repeat(n)}</base64></value>`),
    }),
    () => ({
      name: "document too large",
      xml: wrapped("<value>x</value>"),
      limits: { maxChars: 10 },
    }),
  ];
  return rng.pick(shapes)();
}
