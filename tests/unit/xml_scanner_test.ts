import assert from "node:assert/strict";
import { XmlRpcSyntaxError } from "../../lib/errors.ts";
import { findForbiddenChar } from "../../lib/supervisor/_xml_chars.ts";
import { XmlScanner } from "../../lib/supervisor/_xml_scanner.ts";

/** Every token of `xml`, written as `<name>`, `<name/>`, `</name>`, `"text"` or `end`. */
function tokens(xml: string): string[] {
  const scanner = new XmlScanner(xml, "response");
  const found: string[] = [];
  for (;;) {
    switch (scanner.next()) {
      case "open":
        found.push(`<${scanner.name}${scanner.selfClosing ? "/" : ""}>`);
        break;
      case "close":
        found.push(`</${scanner.name}>`);
        break;
      case "text":
        found.push(JSON.stringify(scanner.text));
        break;
      case "end":
        found.push("end");
        return found;
    }
  }
}

function throwsSyntax(xml: string, detail: string, offset: number): void {
  assert.throws(() => tokens(xml), (error: unknown) => {
    assert.ok(error instanceof XmlRpcSyntaxError, `expected XmlRpcSyntaxError, got ${error}`);
    assert.equal(error.message, `Cannot decode XML-RPC response: ${detail} (at offset ${offset})`);
    assert.equal(error.offset, offset);
    return true;
  });
}

Deno.test("XmlScanner.next() yields tags, self-closing tags and text", () => {
  assert.deepEqual(tokens("<a><b/> x </a>"), ["<a>", "<b/>", '" x "', "</a>", "end"]);
});

Deno.test("XmlScanner.next() skips the BOM, declaration, comments and PIs, and ignores attributes", () => {
  assert.deepEqual(
    tokens("\uFEFF<?xml version='1.0'?><!-- c --><a x='1' y = \"2\"><?pi?></a >"),
    ['""', "<a>", '""', "</a>", "end"],
  );
});

Deno.test("XmlScanner.next() replaces the five entities and character references", () => {
  assert.deepEqual(
    tokens("<a>&lt;&gt;&amp;&quot;&apos; &#65;&#x42;&#x1F600;&#0000067;</a>"),
    ["<a>", JSON.stringify(`<>&"' AB😀C`), "</a>", "end"],
  );
});

Deno.test("XmlScanner.next() keeps a U+FEFF reference that starts a text", () => {
  assert.deepEqual(tokens("<a>&#xFEFF;x</a>"), ["<a>", '"\uFEFFx"', "</a>", "end"]);
});

Deno.test("XmlScanner.next() joins text across comments, PIs and CDATA, keeping CDATA raw", () => {
  assert.deepEqual(
    tokens("<a>x<!-- c -->y<?pi z?><![CDATA[<b>&amp;]]>&amp;</a>"),
    ["<a>", '"xy<b>&amp;&"', "</a>", "end"],
  );
});

Deno.test("XmlScanner.next() normalises CR LF and CR to LF but keeps &#13;", () => {
  assert.deepEqual(
    tokens("<a>1\r\n2\r3&#13;<![CDATA[4\r\n]]></a>"),
    ["<a>", '"1\\n2\\n3\\r4\\n"', "</a>", "end"],
  );
});

Deno.test("XmlScanner constructor throws XmlRpcSyntaxError for characters XML 1.0 forbids", () => {
  throwsSyntax("<a>\u0001</a>", "invalid character U+0001", 3);
  throwsSyntax("<a>\uFFFE</a>", "invalid character U+FFFE", 3);
  throwsSyntax("<a>😀\uD800</a>", "invalid character U+D800", 5);
  throwsSyntax("<a>\uDE00</a>", "invalid character U+DE00", 3);
});

Deno.test("XmlScanner.next() throws XmlRpcSyntaxError for DOCTYPE and ENTITY declarations", () => {
  const detail = "DOCTYPE and ENTITY declarations are not allowed";
  throwsSyntax('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', detail, 0);
  throwsSyntax('<a><!ENTITY x "y"></a>', detail, 3);
  throwsSyntax("<a><![IGNORE[x]]></a>", 'malformed markup after "<!"', 3);
});

Deno.test("XmlScanner.next() throws XmlRpcSyntaxError for unterminated constructs", () => {
  throwsSyntax("<a><!-- never closed", "unterminated comment", 3);
  throwsSyntax("<a><![CDATA[ never closed", "unterminated CDATA section", 3);
  throwsSyntax("<?pi never closed", "unterminated processing instruction", 0);
  throwsSyntax('<a x="never closed>', 'unterminated tag "<a"', 0);
  throwsSyntax("<a", 'malformed tag "<a"', 0);
});

Deno.test("XmlScanner.next() throws XmlRpcSyntaxError for malformed tags", () => {
  throwsSyntax("< a>", 'malformed tag after "<"', 0);
  throwsSyntax("<a x=1>", 'unquoted attribute in "<a>"', 5);
  throwsSyntax("<a x>", 'malformed attribute in "<a>"', 3);
  throwsSyntax("<a x='<'>", '"<" in an attribute of "<a>"', 5);
  throwsSyntax("<a></a x>", 'malformed end tag "</a"', 3);
  throwsSyntax("<a></ a>", 'malformed end tag after "</"', 3);
  throwsSyntax(
    "<a><?xml version='1.0'?></a>",
    "XML declaration not at the start of the document",
    3,
  );
  throwsSyntax("<a>]]></a>", '"]]>" is not allowed in character data', 3);
});

Deno.test("XmlScanner.next() throws XmlRpcSyntaxError for bad references", () => {
  const cases: [string, string][] = [
    ["&lol;", 'unknown entity "&lol;"'],
    ["& ", 'unterminated or overlong reference after "&"'],
    ["&amp", 'unterminated or overlong reference after "&"'],
    [`&#${"9".repeat(40)};`, 'unterminated or overlong reference after "&"'],
    ["&#;", 'malformed character reference "&#;"'],
    ["&#x;", 'malformed character reference "&#x;"'],
    ["&#12a;", 'malformed character reference "&#12a;"'],
    ["&#X41;", 'malformed character reference "&#X41;"'],
    ["&#0;", 'character reference "&#0;" is U+0000, which XML 1.0 cannot carry'],
    ["&#xD800;", 'character reference "&#xD800;" is U+D800, which XML 1.0 cannot carry'],
    ["&#xFFFF;", 'character reference "&#xFFFF;" is U+FFFF, which XML 1.0 cannot carry'],
    [
      "&#x110000;",
      'character reference "&#x110000;" is beyond U+10FFFF, which XML 1.0 cannot carry',
    ],
    [
      "&#99999999999999999999;",
      'character reference "&#99999999999999999999;" is beyond U+10FFFF, which XML 1.0 cannot carry',
    ],
  ];
  for (const [text, detail] of cases) throwsSyntax(`<a>x${text}</a>`, detail, 4);
  throwsSyntax("<a>\r\n\r\n&lol;</a>", 'unknown entity "&lol;"', 7);
});

Deno.test("XmlScanner.next() fails fast on megabytes of half-made markup", () => {
  const started = performance.now();
  throwsSyntax(
    `<a>${"&".repeat(4_000_000)}</a>`,
    'unterminated or overlong reference after "&"',
    3,
  );
  throwsSyntax(`<a>${"<!--".repeat(1_000_000)}`, "unterminated comment", 3);
  throwsSyntax(`<a>${"<![CDATA[".repeat(500_000)}`, "unterminated CDATA section", 3);
  throwsSyntax(`<${"a".repeat(4_000_000)}`, `malformed tag "<${"a".repeat(40)}…"`, 0);
  assert.ok(performance.now() - started < 1000, "took over 1 s");
});

Deno.test("findForbiddenChar() finds the first character XML 1.0 cannot carry", () => {
  assert.equal(findForbiddenChar("fine \t\r\n é 😀 \uE000 \uFFFD"), -1);
  assert.equal(findForbiddenChar("ab\u000B"), 2);
  assert.equal(findForbiddenChar("😀\uDBFF"), 2);
});
