import assert from "node:assert/strict";
import { XmlRpcFault, XmlRpcSyntaxError } from "../../lib/errors.ts";
import {
  decodeMethodResponse,
  encodeMethodCall,
  XmlRpcDouble,
  type XmlRpcValue,
} from "../../lib/supervisor/xmlrpc.ts";
import { decodeMethodCall, encodeFault, encodeMethodResponse } from "../support/xmlrpc_server.ts";
import {
  diffValues,
  processInfo,
  processInfoResponse,
  PY_ALL_TYPES_RESPONSE,
  PY_FAULT_RESPONSE,
  PY_GET_STATE_CALL,
  PY_PROCESS_INFO_RESPONSE,
  PY_START_PROCESS_CALL,
  pyAllTypesValue,
  struct,
} from "../support/xmlrpc_gen.ts";

/** Python writes `<?xml version='1.0'?>`; apart from that quote style our layout is the same. */
function asPython(xml: string): string {
  return xml.replace('<?xml version="1.0"?>', "<?xml version='1.0'?>");
}

/** The `<value>` our encoder writes for `value`. */
function encodedValue(value: XmlRpcValue): string {
  const xml = encodeMethodResponse(value);
  return xml.slice(xml.indexOf("<param>\n") + 8, xml.lastIndexOf("\n</param>"));
}

function response(inner: string): string {
  return `<?xml version="1.0"?><methodResponse><params><param>${inner}</param></params></methodResponse>`;
}

function throwsSyntax(action: () => unknown, message: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof XmlRpcSyntaxError, `expected XmlRpcSyntaxError, got ${error}`);
    assert.equal(error.message, message);
    return true;
  });
}

function nestedArrays(depth: number): string {
  return response(
    "<value><array><data>".repeat(depth) + "<value>x</value>" +
      "</data></array></value>".repeat(depth),
  );
}

Deno.test("encodeMethodCall() writes what Python's marshaller writes for the same call", () => {
  assert.equal(
    asPython(encodeMethodCall("supervisor.startProcess", ["workers:w1", true])),
    PY_START_PROCESS_CALL,
  );
  assert.equal(asPython(encodeMethodCall("supervisor.getState", [])), PY_GET_STATE_CALL);
});

Deno.test("encodeMethodResponse() writes what Python's marshaller writes for getAllProcessInfo", () => {
  const info = {
    name: "w1",
    group: "workers",
    statename: "RUNNING",
    state: 20,
    pid: 123,
    start: 1700000000,
    stop: 0,
    now: 1700000001,
    spawnerr: "",
    exitstatus: 0,
    logfile: "/tmp/x",
    stdout_logfile: "/tmp/x",
    stderr_logfile: "",
    description: "pid 123, uptime 0:00:01",
  };
  assert.equal(asPython(encodeMethodResponse([info])), PY_PROCESS_INFO_RESPONSE);
});

Deno.test("encodeFault() writes what Python's marshaller writes for a Fault", () => {
  assert.equal(asPython(encodeFault(10, "BAD_NAME: nope")), PY_FAULT_RESPONSE);
});

Deno.test("encodeMethodResponse() picks the element for each type", () => {
  const cases: [XmlRpcValue, string][] = [
    [7, "<value><int>7</int></value>"],
    [-(2 ** 31), "<value><int>-2147483648</int></value>"],
    [2 ** 31, "<value><i8>2147483648</i8></value>"],
    [Number.MIN_SAFE_INTEGER, "<value><i8>-9007199254740991</i8></value>"],
    [2 ** 53 + 2, "<value><double>9007199254740994.0</double></value>"],
    [1.5, "<value><double>1.5</double></value>"],
    [1e21, "<value><double>1e+21</double></value>"],
    [new XmlRpcDouble(3), "<value><double>3.0</double></value>"],
    [new XmlRpcDouble(-0), "<value><double>-0.0</double></value>"],
    [true, "<value><boolean>1</boolean></value>"],
    [false, "<value><boolean>0</boolean></value>"],
    [null, "<value><nil/></value>"],
    ["", "<value><string></string></value>"],
    ["a&b<c>d\"e'\r\n", "<value><string>a&amp;b&lt;c&gt;d\"e'&#13;\n</string></value>"],
    [
      new Date(Date.UTC(2024, 1, 29, 23, 59, 7, 999)),
      "<value><dateTime.iso8601>20240229T23:59:07</dateTime.iso8601></value>",
    ],
    [
      new Date("0005-03-01T04:05:06Z"),
      "<value><dateTime.iso8601>00050301T04:05:06</dateTime.iso8601></value>",
    ],
    [new Uint8Array([0, 1, 104, 255]), "<value><base64>AAFo/w==</base64></value>"],
    [new Uint8Array(), "<value><base64></base64></value>"],
    [[], "<value><array><data>\n</data></array></value>"],
    [{}, "<value><struct>\n</struct></value>"],
    [
      { "a<&>": [1] },
      "<value><struct>\n<member>\n<name>a&lt;&amp;&gt;</name>\n" +
      "<value><array><data>\n<value><int>1</int></value>\n</data></array></value>\n" +
      "</member>\n</struct></value>",
    ],
  ];
  for (const [value, expected] of cases) assert.equal(encodedValue(value), expected);
});

Deno.test("encodeMethodResponse() writes a __proto__ member as a member", () => {
  assert.equal(
    encodedValue(struct([["__proto__", 1]])),
    "<value><struct>\n<member>\n<name>__proto__</name>\n<value><int>1</int></value>\n" +
      "</member>\n</struct></value>",
  );
});

Deno.test("encodeMethodResponse() throws RangeError when XML 1.0 cannot carry a character", () => {
  const cases: [XmlRpcValue, string][] = [
    ["ab\u0000", "a string: it contains U+0000 at index 2"],
    ["\u001b[31m", "a string: it contains U+001B at index 0"],
    ["\uFFFE", "a string: it contains U+FFFE at index 0"],
    ["ok \uD800", "a string: it contains U+D800 (a lone surrogate) at index 3"],
    ["\uDC00😀", "a string: it contains U+DC00 (a lone surrogate) at index 0"],
    [{ "bell\u0007": 1 }, "a struct member name: it contains U+0007 at index 4"],
  ];
  for (const [value, detail] of cases) {
    assert.throws(() => encodeMethodResponse(value), {
      name: "RangeError",
      message: `Cannot encode ${detail}, which XML 1.0 cannot carry; ` +
        "send such data as a Uint8Array (base64)",
    });
  }
});

Deno.test("encodeMethodResponse() throws RangeError for numbers and dates XML-RPC cannot carry", () => {
  const cases: [XmlRpcValue, string][] = [
    [NaN, "Cannot encode number NaN: XML-RPC has no NaN or Infinity"],
    [-Infinity, "Cannot encode number -Infinity: XML-RPC has no NaN or Infinity"],
    [new XmlRpcDouble(Infinity), "Cannot encode number Infinity: XML-RPC has no NaN or Infinity"],
    [new Date(NaN), "Cannot encode an invalid Date"],
    [
      new Date("+010000-01-01T00:00:00Z"),
      "Cannot encode Date +010000-01-01T00:00:00.000Z: the year must be 1 to 9999",
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => encodeMethodResponse(value), { name: "RangeError", message });
  }
});

Deno.test("encodeMethodResponse() throws TypeError for values that are not XML-RPC values", () => {
  const cyclic: XmlRpcValue[] = [];
  cyclic.push([cyclic]);
  const cases: [unknown, string][] = [
    [undefined, "Cannot encode undefined: XML-RPC has no such type"],
    [10n, "Cannot encode bigint: XML-RPC has no such type"],
    [new Map(), "Cannot encode a Map: only arrays and plain objects are containers"],
    [cyclic, "Cannot encode a value that contains itself"],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => encodeMethodResponse(value as XmlRpcValue), { name: "TypeError", message });
  }
});

Deno.test("encodeMethodCall() throws TypeError when the method name has other characters", () => {
  for (const method of ["", "supervisor startProcess", "a<b>", "é"]) {
    assert.throws(() => encodeMethodCall(method, []), {
      name: "TypeError",
      message: `Cannot encode method name ${
        JSON.stringify(method)
      }: use letters, digits, "_", ".", ":" and "/"`,
    });
  }
});

Deno.test("encodeFault() throws RangeError when the code is not a four-byte integer", () => {
  assert.throws(() => encodeFault(1.5, "x"), {
    name: "RangeError",
    message: "Cannot encode fault code 1.5: it must be a four-byte integer",
  });
});

Deno.test("decodeMethodResponse() decodes Python's getAllProcessInfo response", () => {
  assert.deepEqual(decodeMethodResponse(PY_PROCESS_INFO_RESPONSE), [{
    name: "w1",
    group: "workers",
    statename: "RUNNING",
    state: 20,
    pid: 123,
    start: 1700000000,
    stop: 0,
    now: 1700000001,
    spawnerr: "",
    exitstatus: 0,
    logfile: "/tmp/x",
    stdout_logfile: "/tmp/x",
    stderr_logfile: "",
    description: "pid 123, uptime 0:00:01",
  }]);
});

Deno.test("decodeMethodResponse() decodes every type Python's marshaller writes", () => {
  assert.equal(
    diffValues(pyAllTypesValue(), decodeMethodResponse(PY_ALL_TYPES_RESPONSE)),
    undefined,
  );
});

Deno.test("decodeMethodResponse() keeps __proto__ and constructor members as own data", () => {
  const decoded = decodeMethodResponse(PY_ALL_TYPES_RESPONSE) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value, 1);
  assert.equal(Object.getOwnPropertyDescriptor(decoded, "constructor")?.value, "c");
  assert.equal(Object.hasOwn(Object.prototype, "1"), false);
  const nested = decodeMethodResponse(response(
    "<value><struct><member><name>__proto__</name><value><struct><member><name>polluted</name>" +
      "<value><boolean>1</boolean></value></member></struct></value></member></struct></value>",
  )) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(nested), Object.prototype);
  assert.deepEqual(Object.keys(nested), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("decodeMethodResponse() throws XmlRpcFault for Python's fault response", () => {
  assert.throws(() => decodeMethodResponse(PY_FAULT_RESPONSE), (error: unknown) => {
    assert.ok(error instanceof XmlRpcFault);
    assert.equal(error.code, 10);
    assert.equal(error.faultString, "BAD_NAME: nope");
    assert.equal(error.message, "XML-RPC fault 10: BAD_NAME: nope");
    return true;
  });
});

Deno.test("decodeMethodResponse() throws XmlRpcSyntaxError when a fault is malformed", () => {
  const fault = (inner: string) =>
    `<methodResponse><fault><value>${inner}</value></fault></methodResponse>`;
  const member = (name: string, value: string) =>
    `<member><name>${name}</name><value>${value}</value></member>`;
  const prefix = "Cannot decode XML-RPC response: malformed <fault>:";
  throwsSyntax(
    () => decodeMethodResponse(fault("<array><data/></array>")),
    `${prefix} its value is not a struct (at offset 16)`,
  );
  throwsSyntax(
    () => decodeMethodResponse(fault(`<struct>${member("faultString", "x")}</struct>`)),
    `${prefix} faultCode is missing or not an integer (at offset 16)`,
  );
  throwsSyntax(
    () =>
      decodeMethodResponse(
        fault(
          `<struct>${member("faultCode", "<int>1</int>")}${
            member("faultString", "<int>2</int>")
          }</struct>`,
        ),
      ),
    `${prefix} faultString is missing or not a string (at offset 16)`,
  );
  throwsSyntax(
    () => decodeMethodResponse(PY_FAULT_RESPONSE.replace("</methodResponse>", "</fault>")),
    'Cannot decode XML-RPC response: expected "</methodResponse>", found "</fault>" (at offset 252)',
  );
});

Deno.test("decodeMethodResponse() accepts the untyped and empty forms real servers send", () => {
  assert.equal(decodeMethodResponse(response("<value>  two  words\n</value>")), "  two  words\n");
  assert.equal(decodeMethodResponse(response("<value></value>")), "");
  assert.equal(decodeMethodResponse(response("<value/>")), "");
  assert.equal(decodeMethodResponse(response("<value><string/></value>")), "");
  assert.equal(decodeMethodResponse(response("<value>\n <string> a </string>\n</value>")), " a ");
  assert.deepEqual(decodeMethodResponse(response("<value><array><data/></array></value>")), []);
  assert.deepEqual(decodeMethodResponse(response("<value><struct/></value>")), {});
  assert.deepEqual(decodeMethodResponse(response("<value><array/></value>")), []);
  assert.deepEqual(
    decodeMethodResponse(response("<value><array><data><value/></data></array></value>")),
    [""],
  );
});

Deno.test("decodeMethodResponse() accepts nil in both spellings", () => {
  assert.equal(decodeMethodResponse(response("<value><nil/></value>")), null);
  assert.equal(decodeMethodResponse(response("<value><nil></nil></value>")), null);
  const apache = '<methodResponse xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">' +
    "<params><param><value><ex:nil/></value></param></params></methodResponse>";
  assert.equal(decodeMethodResponse(apache), null);
  throwsSyntax(
    () => decodeMethodResponse(response("<value><nil>x</nil></value>")),
    "Cannot decode XML-RPC response: <nil> must be empty (at offset 59)",
  );
});

Deno.test("decodeMethodResponse() skips the declaration, BOM, comments and PIs around elements", () => {
  const xml = '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- a -->\n<methodResponse>' +
    "<!-- b --><params><?pi data?><param>\n<value><int><!-- c -->42</int></value></param>" +
    "</params></methodResponse>\n<!-- d -->\n";
  assert.equal(decodeMethodResponse(xml), 42);
});

Deno.test("decodeMethodResponse() normalises raw line ends but keeps &#13;", () => {
  assert.equal(decodeMethodResponse(response("<value>a\r\nb\rc&#13;\n</value>")), "a\nb\nc\r\n");
});

Deno.test("decodeMethodResponse() keeps the last of duplicate struct members", () => {
  const member = (value: number) =>
    `<member><name>a</name><value><int>${value}</int></value></member>`;
  assert.deepEqual(
    decodeMethodResponse(response(`<value><struct>${member(1)}${member(2)}</struct></value>`)),
    { a: 2 },
  );
});

Deno.test("decodeMethodResponse() round-trips what encodeMethodResponse() writes", () => {
  const value = struct([
    ["text", "a&b<c>\r\n]]>\t 😀"],
    ["numbers", [0, -1, 2 ** 31, Number.MAX_SAFE_INTEGER, 0.1, 5e-324, new XmlRpcDouble(-0)]],
    ["when", new Date(Date.UTC(1999, 11, 31, 23, 59, 59))],
    ["bytes", new Uint8Array([0, 255, 128])],
    ["nothing", null],
    ["__proto__", { constructor: [true, false] }],
  ]);
  assert.equal(diffValues(value, decodeMethodResponse(encodeMethodResponse(value))), undefined);
});

Deno.test("decodeMethodResponse() throws XmlRpcSyntaxError unless there is exactly one param", () => {
  const prefix = "Cannot decode XML-RPC response: a response must hold exactly one <param>";
  throwsSyntax(
    () => decodeMethodResponse("<methodResponse><params/></methodResponse>"),
    `${prefix}, found none (at offset 16)`,
  );
  throwsSyntax(
    () => decodeMethodResponse("<methodResponse><params></params></methodResponse>"),
    `${prefix}, found none (at offset 24)`,
  );
  throwsSyntax(
    () => decodeMethodResponse(response("<value>1</value></param><param><value>2</value>")),
    `${prefix}, found more (at offset 76)`,
  );
});

Deno.test("decodeMethodResponse() throws XmlRpcSyntaxError for wrong nesting and unknown tags", () => {
  const prefix = "Cannot decode XML-RPC response:";
  const cases: [string, string][] = [
    ["", 'expected "<methodResponse>", found the end of the document (at offset 0)'],
    [
      "<methodResponse/>",
      'expected "<methodResponse>" with content, found "<methodResponse/>" (at offset 0)',
    ],
    [
      "<methodCall></methodCall>",
      'expected "<methodResponse>", found "<methodCall>" (at offset 0)',
    ],
    [response("<value><foo>1</foo></value>"), 'unknown value type "<foo>" (at offset 59)'],
    [response("<value><int>1</value></int>"), 'expected "</int>", found "</value>" (at offset 65)'],
    [
      response("<value>a<int>1</int></value>"),
      'expected a value type, found text "a" before it (at offset 59)',
    ],
    [
      response("<value><array><value/></array></value>"),
      'expected "<data>", found "<value/>" (at offset 66)',
    ],
    [
      response("<value><struct><name>a</name></struct></value>"),
      'expected "<member>" or "</struct>", found "<name>" (at offset 67)',
    ],
    [
      response("<value>1</value>") + "x",
      'expected the end of the document, found text "x" (at offset 102)',
    ],
    [
      response("<value>1</value>") + "<a/>",
      'expected the end of the document, found "<a/>" (at offset 102)',
    ],
  ];
  for (const [xml, detail] of cases) {
    throwsSyntax(() => decodeMethodResponse(xml), `${prefix} ${detail}`);
  }
});

Deno.test("decodeMethodResponse() throws XmlRpcSyntaxError for every truncation of a response", () => {
  const end = PY_PROCESS_INFO_RESPONSE.lastIndexOf(">") + 1; // only a newline follows
  for (let length = 0; length < end; length++) {
    assert.throws(
      () => decodeMethodResponse(PY_PROCESS_INFO_RESPONSE.slice(0, length)),
      XmlRpcSyntaxError,
    );
  }
});

Deno.test("decodeMethodResponse() throws XmlRpcSyntaxError when the document exceeds a limit", () => {
  assert.equal(decodeMethodResponse(nestedArrays(63)) !== null, true);
  throwsSyntax(
    () => decodeMethodResponse(nestedArrays(65)),
    "Cannot decode XML-RPC response: arrays and structs nested deeper than 64 (at offset 1339)",
  );
  throwsSyntax(
    () => decodeMethodResponse(nestedArrays(3), { maxDepth: 2 }),
    "Cannot decode XML-RPC response: arrays and structs nested deeper than 2 (at offset 99)",
  );
  throwsSyntax(
    () => decodeMethodResponse(response("<value>x</value>"), { maxChars: 50 }),
    "Cannot decode XML-RPC response: the document is 102 characters long, more than the limit " +
      "of 50 (at offset 50)",
  );
  throwsSyntax(
    () =>
      decodeMethodResponse(
        response("<value><array><data><value/><value/></data></array></value>"),
        { maxItems: 2 },
      ),
    "Cannot decode XML-RPC response: more than 2 values (at offset 80)",
  );
  assert.throws(() => decodeMethodResponse("", { maxDepth: 0 }), {
    name: "RangeError",
    message: "Cannot use maxDepth 0: it must be a positive integer",
  });
});

Deno.test("decodeMethodResponse() accepts nesting exactly at maxDepth", () => {
  let expected: XmlRpcValue = "x";
  for (let i = 0; i < 64; i++) expected = [expected];
  assert.deepEqual(decodeMethodResponse(nestedArrays(64)), expected);
});

Deno.test("decodeMethodResponse() rejects 10,000- and 1,000,000-deep nesting quickly", () => {
  const started = performance.now();
  throwsSyntax(
    () => decodeMethodResponse(nestedArrays(10_000)),
    "Cannot decode XML-RPC response: arrays and structs nested deeper than 64 (at offset 1339)",
  );
  const million = nestedArrays(1_000_000);
  throwsSyntax(
    () => decodeMethodResponse(million),
    `Cannot decode XML-RPC response: the document is ${million.length} characters long, more ` +
      "than the limit of 16777216 (at offset 16777216)",
  );
  throwsSyntax(
    () => decodeMethodResponse(million, { maxChars: 64 * 1024 * 1024 }),
    "Cannot decode XML-RPC response: arrays and structs nested deeper than 64 (at offset 1339)",
  );
  throwsSyntax(
    () => decodeMethodResponse(response("<value>".repeat(1_000_000))),
    'Cannot decode XML-RPC response: unknown value type "<value>" (at offset 59)',
  );
  assert.ok(performance.now() - started < 2000, "took over 2 s");
});

Deno.test("decodeMethodResponse() decodes getAllProcessInfo for 200 programs in a few ms", () => {
  const xml = processInfoResponse(200);
  assert.deepEqual((decodeMethodResponse(xml) as XmlRpcValue[])[199], processInfo(200));
  const timesMs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const started = performance.now();
    decodeMethodResponse(xml);
    timesMs.push(performance.now() - started);
  }
  const medianMs = timesMs.sort((a, b) => a - b)[3] ?? Infinity;
  assert.ok(medianMs < 50, `median ${medianMs.toFixed(1)} ms for ${xml.length} characters`);
});

Deno.test("decodeMethodCall() decodes Python's calls", () => {
  assert.deepEqual(decodeMethodCall(PY_START_PROCESS_CALL), {
    method: "supervisor.startProcess",
    params: ["workers:w1", true],
  });
  assert.deepEqual(decodeMethodCall(PY_GET_STATE_CALL), {
    method: "supervisor.getState",
    params: [],
  });
});

Deno.test("decodeMethodCall() accepts a call without params or with <params/>", () => {
  const call = (params: string) => `<methodCall><methodName>a.b</methodName>${params}</methodCall>`;
  assert.deepEqual(decodeMethodCall(call("")), { method: "a.b", params: [] });
  assert.deepEqual(decodeMethodCall(call("<params/>")), { method: "a.b", params: [] });
});

Deno.test("decodeMethodCall() round-trips what encodeMethodCall() writes", () => {
  const params: XmlRpcValue[] = ["workers:*", 3, [new Date(0)], { wait: true }];
  const decoded = decodeMethodCall(encodeMethodCall("supervisor.stopProcessGroup", params));
  assert.equal(diffValues({ method: "supervisor.stopProcessGroup", params }, decoded), undefined);
});

Deno.test("decodeMethodCall() throws XmlRpcSyntaxError for a bad name or a response document", () => {
  throwsSyntax(
    () => decodeMethodCall("<methodCall><methodName>a b</methodName></methodCall>"),
    'Cannot decode XML-RPC call: method name "a b" is not valid (at offset 27)',
  );
  throwsSyntax(
    () => decodeMethodCall(PY_FAULT_RESPONSE),
    'Cannot decode XML-RPC call: expected "<methodCall>", found "<methodResponse>" (at offset 22)',
  );
});
