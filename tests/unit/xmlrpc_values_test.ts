import assert from "node:assert/strict";
import {
  decodeBase64,
  encodeBase64,
  type Fail,
  formatDouble,
  parseBoolean,
  parseDateTime,
  parseDouble,
  parseInteger,
} from "../../lib/supervisor/_xmlrpc_values.ts";

const fail: Fail = (detail) => {
  throw new Error(detail);
};

Deno.test("parseInteger() reads <int>, <i4> and <i8> text within their ranges", () => {
  const cases: [string, string, number][] = [
    ["int", "42", 42],
    ["int", " \n-7\t", -7],
    ["i4", "+2147483647", 2147483647],
    ["int", "-2147483648", -2147483648],
    ["i8", "9007199254740991", 9007199254740991],
    ["i8", "-9007199254740991", -9007199254740991],
    ["i8", "0000000000000000000000000012", 12],
  ];
  for (const [tag, text, expected] of cases) assert.equal(parseInteger(text, fail, tag), expected);
  assert.ok(Object.is(parseInteger("-0", fail, "int"), 0));
});

Deno.test("parseInteger() fails when the text is out of range or not an integer", () => {
  const cases: [string, string, string][] = [
    ["int", "2147483648", "<int> value 2147483648 is not a four-byte integer"],
    ["i4", "-2147483649", "<i4> value -2147483649 is not a four-byte integer"],
    ["i8", "9007199254740992", "<i8> value 9007199254740992 is not a safe integer (±2^53-1)"],
    ["i8", "9".repeat(400), `<i8> value ${"9".repeat(30)}… is not a safe integer (±2^53-1)`],
    ["int", "", '<int> holds "", not an integer'],
    ["int", "1.0", '<int> holds "1.0", not an integer'],
    ["int", "0x10", '<int> holds "0x10", not an integer'],
    ["int", "1 2", '<int> holds "1 2", not an integer'],
    ["int", "--1", '<int> holds "--1", not an integer'],
  ];
  for (const [tag, text, message] of cases) {
    assert.throws(() => parseInteger(text, fail, tag), { message });
  }
});

Deno.test("parseBoolean() reads only 0 and 1", () => {
  assert.equal(parseBoolean("1", fail), true);
  assert.equal(parseBoolean(" 0 ", fail), false);
  assert.throws(() => parseBoolean("true", fail), {
    message: '<boolean> holds "true", not 0 or 1',
  });
});

Deno.test("parseDouble() reads decimal and exponent forms", () => {
  const cases: [string, number][] = [
    ["1.5", 1.5],
    ["-2.5e-07", -2.5e-7],
    ["1e+300", 1e300],
    ["3.0", 3],
    [".5", 0.5],
    ["5.", 5],
    ["+1E2", 100],
    [" 7 ", 7],
    ["5e-324", 5e-324],
  ];
  for (const [text, expected] of cases) assert.equal(parseDouble(text, fail), expected);
  assert.ok(Object.is(parseDouble("-0.0", fail), -0));
});

Deno.test("parseDouble() fails for NaN, infinities and malformed text", () => {
  for (const text of ["nan", "inf", "Infinity", "1e400", "-1e400", "1e", ".", "", "0x1", "1,5"]) {
    assert.throws(() => parseDouble(text, fail), {
      message: `<double> holds ${JSON.stringify(text)}, not a finite number`,
    });
  }
});

Deno.test("formatDouble() writes text that parseDouble() reads back exactly", () => {
  for (const value of [0.1, -0, 3, 1e21, 5e-324, Number.MAX_VALUE, 2 ** 53 + 2, -123.456e-89]) {
    assert.ok(Object.is(parseDouble(formatDouble(value), fail), value), String(value));
  }
  assert.equal(formatDouble(3), "3.0");
  assert.equal(formatDouble(-0), "-0.0");
});

Deno.test("parseDateTime() reads Python's format and ISO 8601 with offsets", () => {
  const cases: [string, string][] = [
    ["20240229T23:59:07", "2024-02-29T23:59:07.000Z"],
    ["2024-02-29T23:59:07", "2024-02-29T23:59:07.000Z"],
    ["2024-02-29T23:59:07Z", "2024-02-29T23:59:07.000Z"],
    ["2024-02-29T23:59:07+02:00", "2024-02-29T21:59:07.000Z"],
    ["20240229T235907-0130", "2024-03-01T01:29:07.000Z"],
    ["2024-02-29T23:59:07.25Z", "2024-02-29T23:59:07.250Z"],
    ["00010101T00:00:00", "0001-01-01T00:00:00.000Z"],
    [" 99991231T23:59:59 ", "9999-12-31T23:59:59.000Z"],
  ];
  for (const [text, iso] of cases) assert.equal(parseDateTime(text, fail).toISOString(), iso);
});

Deno.test("parseDateTime() fails for impossible or malformed dates", () => {
  const texts = [
    "20230229T00:00:00",
    "20241301T00:00:00",
    "20240100T00:00:00",
    "20240101T24:00:00",
    "20240101T00:60:00",
    "20240101T00:00:60",
    "2024-0101T00:00:00",
    "20240101T00:0000",
    "20240101 00:00:00",
    "20240101T00:00:00+25:00",
    "20240101T00:00:00.",
    "2024010T00:00:00",
    "",
  ];
  for (const text of texts) {
    assert.throws(() => parseDateTime(text, fail), {
      message: `<dateTime.iso8601> holds ${JSON.stringify(text)}, not a date and time`,
    }, text);
  }
  assert.throws(() => parseDateTime("00000101T00:00:00", fail), {
    message: "<dateTime.iso8601> year is not 1 to 9999",
  });
  assert.throws(() => parseDateTime("99991231T23:00:00-01:00", fail), {
    message: "<dateTime.iso8601> year is not 1 to 9999",
  });
});

Deno.test("decodeBase64() reads padded base64 with white space anywhere", () => {
  assert.deepEqual(
    decodeBase64("\nAAFoZWxsb/8=\n", fail),
    new Uint8Array([0, 1, 104, 101, 108, 108, 111, 255]),
  );
  assert.deepEqual(decodeBase64("QU JD\r\nRA==", fail), new Uint8Array([65, 66, 67, 68]));
  assert.deepEqual(decodeBase64("QUI=", fail), new Uint8Array([65, 66]));
  assert.deepEqual(decodeBase64(" ", fail), new Uint8Array());
});

Deno.test("decodeBase64() fails for bad characters, length or padding", () => {
  const cases: [string, string][] = [
    ["QUJD!", '<base64> contains "!"'],
    ["QUJD-_==", '<base64> contains "-"'],
    ["QUJDé", '<base64> contains "é"'],
    ["QUJDR", "<base64> length is not a multiple of 4"],
    ["QUJDRA", "<base64> length is not a multiple of 4"],
    ["=QUJ", "<base64> has misplaced padding"],
    ["QUJD====", "<base64> has misplaced padding"],
    ["QU==QUJD", "<base64> has data after padding"],
    ["QUJ==", "<base64> has misplaced padding"],
    ["QU=", "<base64> has misplaced padding"],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => decodeBase64(text, fail), { message }, text);
  }
});

Deno.test("encodeBase64() output decodes back to the same bytes", () => {
  const bytes = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 7919) % 256);
  assert.deepEqual(decodeBase64(encodeBase64(bytes), fail), bytes);
  assert.equal(encodeBase64(new Uint8Array([0, 1, 104, 255])), "AAFo/w==");
});
