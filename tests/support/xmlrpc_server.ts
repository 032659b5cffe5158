/**
 * The server side of the XML-RPC codec, for test servers such as the fake supervisord: encodes
 * responses and faults the way supervisord sends them and decodes method calls. releasemon itself
 * only calls (`lib/supervisor/xmlrpc.ts`).
 *
 * @module
 */
import {
  encodeValueElement,
  METHOD_NAME,
  XML_DECLARATION,
  type XmlRpcValue,
} from "../../lib/supervisor/xmlrpc.ts";
import { type DecodeLimits, Decoder } from "../../lib/supervisor/_xmlrpc_decoder.ts";
import { isInt32 } from "../../lib/supervisor/_xmlrpc_values.ts";

/** A `methodResponse` holding one value. */
export function encodeMethodResponse(value: XmlRpcValue): string {
  const element = encodeValueElement(value);
  return `${XML_DECLARATION}<methodResponse>\n<params>\n<param>\n${element}\n</param>\n</params>\n</methodResponse>\n`;
}

/** A `methodResponse` holding a `<fault>`, as supervisord sends it. */
export function encodeFault(code: number, faultString: string): string {
  if (!Number.isInteger(code) || !isInt32(code)) {
    throw new RangeError(`Cannot encode fault code ${code}: it must be a four-byte integer`);
  }
  const element = encodeValueElement({ faultCode: code, faultString });
  return `${XML_DECLARATION}<methodResponse>\n<fault>\n${element}\n</fault>\n</methodResponse>\n`;
}

/** Decodes a `methodCall`; throws `XmlRpcSyntaxError` when it is malformed. */
export function decodeMethodCall(
  xml: string,
  limits?: DecodeLimits,
): { method: string; params: XmlRpcValue[] } {
  const decoder = new Decoder(xml, "call", limits);
  const scanner = decoder.scanner;
  decoder.expect(!decoder.expectOpen("methodCall"), '"<methodCall>" with content');
  const method = decoder.textIn("methodName");
  if (!METHOD_NAME.test(method)) {
    scanner.fail(`method name ${JSON.stringify(method.slice(0, 60))} is not valid`, scanner.start);
  }
  const params: XmlRpcValue[] = [];
  decoder.nextTag();
  if (decoder.isOpen("params")) {
    if (!scanner.selfClosing) {
      while (decoder.nextTag() === "open") {
        decoder.expect(decoder.isOpen("param") && !scanner.selfClosing, '"<param>"');
        params.push(decoder.valueIn("param"));
      }
      decoder.expect(decoder.isClose("params"), '"<param>" or "</params>"');
    }
    decoder.nextTag();
  }
  decoder.expect(decoder.isClose("methodCall"), '"</methodCall>"');
  decoder.finish();
  return { method, params };
}
