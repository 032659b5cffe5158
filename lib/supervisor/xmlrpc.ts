/**
 * The XML-RPC codec: encodes method calls and decodes responses (the reverse, for test servers
 * such as the fake supervisord, is `tests/support/xmlrpc_server.ts`).
 *
 * Pure: no I/O. Decoding is written for hostile input: a size limit is checked first, the tokenizer
 * (`_xml_scanner.ts`) is linear and never expands entities, and nested arrays and structs are
 * parsed with an explicit stack bounded by `maxDepth`, so no document can overflow the call stack.
 * Element text is turned into values by a table from tag to converter (`_xmlrpc_decoder.ts`, with
 * the converters in `_xmlrpc_values.ts`), as supervisord's own `unmarshallers` table does.
 *
 * Decoded values: `<int>`/`<i4>`/`<i8>`/`<double>` → number (integral doubles too: decoding never
 * yields {@linkcode XmlRpcDouble}), `<boolean>` → boolean, untyped `<value>` and `<string>` →
 * string, `<dateTime.iso8601>` → Date (UTC unless an offset is given), `<base64>` → Uint8Array,
 * `<nil/>` → null. Structs are plain objects, so they compare equal to object literals; a member
 * named `__proto__` is defined as an own data property (never through the prototype setter), so no
 * document can change a prototype. Read members with `Object.hasOwn`, not `in`. Duplicate members:
 * the last one wins.
 *
 * @module
 */

import { XmlRpcFault } from "../errors.ts";
import { type DecodeLimits, Decoder } from "./_xmlrpc_decoder.ts";
import {
  encodeBase64,
  escapeText,
  type Fail,
  formatDateTime,
  formatDouble,
  isInt32,
  XmlRpcDouble,
  type XmlRpcValue,
} from "./_xmlrpc_values.ts";

export { XmlRpcDouble } from "./_xmlrpc_values.ts";
export type { XmlRpcStruct, XmlRpcValue } from "./_xmlrpc_values.ts";
export type { DecodeLimits } from "./_xmlrpc_decoder.ts";
/** Largest response body the transport reads: the decoder's default document limit. */
export { MAX_DOCUMENT_CHARS as MAX_RESPONSE_BYTES } from "./_xmlrpc_decoder.ts";

/** The encoder recurses over trusted values; this keeps a runaway value from blowing the stack. */
const MAX_ENCODE_DEPTH = 1000;
/** The method names XML-RPC calls may carry here. */
export const METHOD_NAME = /^[A-Za-z0-9_.:/]+$/;
/** The first line of every document we write. */
export const XML_DECLARATION = '<?xml version="1.0"?>\n';

// ---------------------------------------------------------------------------------------------
// Encoding

/** The body of a `methodCall`; throws TypeError or RangeError for what XML-RPC cannot carry. */
export function encodeMethodCall(method: string, params: readonly XmlRpcValue[]): string {
  if (!METHOD_NAME.test(method)) {
    const allowed = 'use letters, digits, "_", ".", ":" and "/"';
    throw new TypeError(`Cannot encode method name ${JSON.stringify(method)}: ${allowed}`);
  }
  const parts = [
    XML_DECLARATION,
    "<methodCall>\n<methodName>",
    method,
    "</methodName>\n<params>\n",
  ];
  for (const param of params) {
    parts.push("<param>\n", encodeValueElement(param), "\n</param>\n");
  }
  parts.push("</params>\n</methodCall>\n");
  return parts.join("");
}

/** One `<value>` element; throws TypeError or RangeError for what XML-RPC cannot carry. */
export function encodeValueElement(value: XmlRpcValue): string {
  const parts: string[] = [];
  encodeValue(value, parts, new Set(), 0);
  return parts.join("");
}

function encodeValue(value: XmlRpcValue, parts: string[], path: Set<object>, depth: number): void {
  if (value === null) return void parts.push("<value><nil/></value>");
  switch (typeof value) {
    case "boolean":
      return void parts.push(
        value ? "<value><boolean>1</boolean></value>" : "<value><boolean>0</boolean></value>",
      );
    case "string":
      return void parts.push("<value><string>", escapeText(value, "a string"), "</string></value>");
    case "number":
      if (Number.isInteger(value) && isInt32(value)) {
        return void parts.push("<value><int>", String(value), "</int></value>");
      }
      if (Number.isSafeInteger(value)) {
        return void parts.push("<value><i8>", String(value), "</i8></value>");
      }
      return void parts.push("<value><double>", formatDouble(value), "</double></value>");
    case "object":
      break;
    default:
      throw new TypeError(`Cannot encode ${typeof value}: XML-RPC has no such type`);
  }
  if (value instanceof XmlRpcDouble) {
    return void parts.push("<value><double>", formatDouble(value.value), "</double></value>");
  }
  if (value instanceof Date) {
    return void parts.push(
      "<value><dateTime.iso8601>",
      formatDateTime(value),
      "</dateTime.iso8601></value>",
    );
  }
  if (value instanceof Uint8Array) {
    return void parts.push("<value><base64>", encodeBase64(value), "</base64></value>");
  }
  const prototype = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) {
    const kind = prototype?.constructor?.name ?? "object";
    throw new TypeError(`Cannot encode a ${kind}: only arrays and plain objects are containers`);
  }
  if (path.has(value)) throw new TypeError("Cannot encode a value that contains itself");
  if (depth >= MAX_ENCODE_DEPTH) {
    throw new RangeError(`Cannot encode a value nested deeper than ${MAX_ENCODE_DEPTH} levels`);
  }
  path.add(value);
  if (Array.isArray(value)) {
    parts.push("<value><array><data>\n");
    for (const item of value) {
      encodeValue(item, parts, path, depth + 1);
      parts.push("\n");
    }
    parts.push("</data></array></value>");
  } else {
    parts.push("<value><struct>\n");
    for (const name of Object.keys(value)) {
      parts.push("<member>\n<name>", escapeText(name, "a struct member name"), "</name>\n");
      encodeValue(value[name] as XmlRpcValue, parts, path, depth + 1);
      parts.push("\n</member>\n");
    }
    parts.push("</struct></value>");
  }
  path.delete(value);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a `methodResponse`: its one value, or throws `XmlRpcFault` for a `<fault>` and
 * `XmlRpcSyntaxError` for anything malformed, too large or too deep.
 */
export function decodeMethodResponse(xml: string, limits?: DecodeLimits): XmlRpcValue {
  const decoder = new Decoder(xml, "response", limits);
  const scanner = decoder.scanner;
  decoder.expect(!decoder.expectOpen("methodResponse"), '"<methodResponse>" with content');
  let fault: XmlRpcFault | undefined;
  let value: XmlRpcValue = null;
  decoder.nextTag();
  if (decoder.isOpen("params")) {
    if (scanner.selfClosing || decoder.nextTag() !== "open") {
      scanner.fail("a response must hold exactly one <param>, found none", scanner.start);
    }
    decoder.expect(decoder.isOpen("param") && !scanner.selfClosing, '"<param>" with a "<value>"');
    value = decoder.valueIn("param");
    decoder.nextTag();
    if (decoder.isOpen("param")) {
      scanner.fail("a response must hold exactly one <param>, found more", scanner.start);
    }
    decoder.expect(decoder.isClose("params"), '"</params>"');
  } else {
    decoder.expect(decoder.isOpen("fault") && !scanner.selfClosing, '"<params>" or "<fault>"');
    const at = scanner.start;
    fault = toFault(decoder.valueIn("fault"), (detail) => scanner.fail(detail, at));
  }
  decoder.expectClose("methodResponse");
  decoder.finish();
  if (fault !== undefined) throw fault;
  return value;
}

function toFault(value: XmlRpcValue, fail: Fail): XmlRpcFault {
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    value instanceof Date || value instanceof Uint8Array || value instanceof XmlRpcDouble
  ) {
    return fail("malformed <fault>: its value is not a struct");
  }
  const code = Object.hasOwn(value, "faultCode") ? value.faultCode : undefined;
  const text = Object.hasOwn(value, "faultString") ? value.faultString : undefined;
  if (typeof code !== "number" || !Number.isInteger(code)) {
    return fail("malformed <fault>: faultCode is missing or not an integer");
  }
  if (typeof text !== "string") {
    return fail("malformed <fault>: faultString is missing or not a string");
  }
  return new XmlRpcFault(code, text);
}
