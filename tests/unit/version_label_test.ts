import assert from "node:assert/strict";
import { versionLabel } from "../../lib/watch/version_file.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("versionLabel() keeps the first line, trimmed", () => {
  assert.equal(versionLabel(bytes("  v1.2.3  \nbuilt by ci\n")), "v1.2.3");
  assert.equal(versionLabel(bytes("v1\r\nv2")), "v1");
  assert.equal(versionLabel(bytes("v1\rv2")), "v1");
  assert.equal(versionLabel(bytes("v1")), "v1");
});

Deno.test("versionLabel() skips blank leading lines and a byte-order mark", () => {
  assert.equal(versionLabel(bytes("\n  \n\tv2\n")), "v2");
  assert.equal(versionLabel(bytes("\uFEFFv3\n")), "v3");
  assert.equal(versionLabel(bytes(" \n \n")), "");
});

Deno.test("versionLabel() escapes control characters so the label is safe to log", () => {
  assert.equal(versionLabel(bytes("v1\x1b[31mred\x07")), "v1\\x1b[31mred\\x07");
  assert.equal(versionLabel(bytes("a\tb\x00c\x7f")), "a\\tb\\x00c\\x7f");
  assert.equal(versionLabel(bytes("v1\u0085x")), "v1\\u{0085}x");
  assert.equal(versionLabel(bytes("abc\u202Egpj.exe")), "abc\\u{202e}gpj.exe");
  assert.equal(versionLabel(bytes("a\u2028b")), "a\\u{2028}b");
});

Deno.test("versionLabel() replaces invalid UTF-8 and drops a character cut at the end", () => {
  assert.equal(versionLabel(new Uint8Array([0x76, 0xff, 0x31])), "v\uFFFD1");
  const euro = bytes("v€"); // "€" is 3 bytes; cut after its first 2
  assert.equal(versionLabel(euro.subarray(0, euro.length - 1)), "v");
});

Deno.test("versionLabel() caps at maxChars characters with an ellipsis", () => {
  assert.equal(versionLabel(bytes("x".repeat(100))), `${"x".repeat(79)}…`);
  assert.equal(versionLabel(bytes("x".repeat(80))), "x".repeat(80));
  assert.equal(versionLabel(bytes("abcdef"), 4), "abc…");
  assert.equal(versionLabel(bytes("abcdef"), 1), "…");
  // Code points, not UTF-16 units: an emoji counts as one and is never split.
  assert.equal(versionLabel(bytes("😀😀😀😀"), 4), "😀😀😀😀");
  assert.equal(versionLabel(bytes("😀😀😀😀😀"), 4), "😀😀😀…");
});

Deno.test("versionLabel() never cuts an escape in half", () => {
  assert.equal(versionLabel(bytes("ab\x1bcdef"), 5), "ab…");
  assert.equal(versionLabel(bytes("ab\x1bcdef"), 7), "ab\\x1b…");
});

Deno.test("versionLabel() rejects a maxChars that is not a positive integer", () => {
  for (const bad of [0, -1, 2.5, Number.NaN]) {
    assert.throws(() => versionLabel(bytes("v1"), bad), {
      name: "RangeError",
      message: `Cannot make a version label of "${bad}" characters: must be a positive integer`,
    });
  }
});
