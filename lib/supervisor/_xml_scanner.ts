/**
 * A small pull tokenizer for the subset of XML 1.0 that XML-RPC uses, written for untrusted input.
 *
 * It yields start tags (attributes are checked for shape and ignored), end tags and runs of
 * character data. Comments, processing instructions and the XML declaration are skipped, CDATA
 * sections become text, and any `<!DOCTYPE`/`<!ENTITY` markup is rejected, so no entity is ever
 * expanded. Every scan moves forward with `indexOf` or a bounded look-ahead: the work is linear in
 * the document length and nothing recurses. Errors are `XmlRpcSyntaxError`s carrying an offset.
 *
 * @module
 */

import { XmlRpcSyntaxError } from "../errors.ts";
import { codePointName, findForbiddenChar, isSpaceCode, isXmlChar } from "./_xml_chars.ts";

/** What the last call to {@linkcode XmlScanner.next} found. */
export type TokenKind = "open" | "close" | "text" | "end";

/** Longest entity or character reference we look at, `&` and `;` included (bounds the scan). */
const MAX_REFERENCE_CHARS = 32;

function isNameCode(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x30 && code <= 0x39) || code === 0x5f || code === 0x3a || code === 0x2e ||
    code === 0x2d || code >= 0x80;
}

/** Pulls tokens out of one document; the current token is in the public fields. */
export class XmlScanner {
  /** Kind of the current token. */
  kind: TokenKind = "end";
  /** Tag name of an `open` or `close` token. */
  name = "";
  /** True for an `open` token written `<name/>` (no `close` token follows). */
  selfClosing = false;
  /** Decoded character data of a `text` token (entities replaced, line ends normalised). */
  text = "";
  /** Offset of the current token in the document. */
  start = 0;

  readonly #xml: string;
  readonly #what: string;
  #pos = 0;

  /**
   * @param xml the whole document; it must already be within the caller's size limit
   * @param what the kind of document, for messages ("response", "call")
   */
  constructor(xml: string, what: string) {
    this.#xml = xml;
    this.#what = what;
    const bad = findForbiddenChar(xml);
    if (bad >= 0) {
      const code = xml.codePointAt(bad) ?? 0;
      this.fail(`invalid character ${codePointName(code)}`, bad);
    }
    if (xml.charCodeAt(0) === 0xfeff) this.#pos = 1;
  }

  /** Throws an `XmlRpcSyntaxError` worded like every other decoding error. */
  fail(detail: string, offset: number): never {
    throw new XmlRpcSyntaxError(`Cannot decode XML-RPC ${this.#what}: ${detail}`, offset);
  }

  /** The current tag name, cut short for messages (a hostile name can be megabytes long). */
  #shortName(): string {
    return this.name.length > 40 ? `${this.name.slice(0, 40)}…` : this.name;
  }

  /** A short description of the current token, for "expected X, found Y" messages. */
  describe(): string {
    switch (this.kind) {
      case "open":
        return `"<${this.#shortName()}${this.selfClosing ? "/" : ""}>"`;
      case "close":
        return `"</${this.#shortName()}>"`;
      case "text": {
        const shown = this.text.length > 24 ? `${this.text.slice(0, 24)}…` : this.text;
        return `text ${JSON.stringify(shown)}`;
      }
      case "end":
        return "the end of the document";
    }
  }

  /** Moves to the next token. */
  next(): TokenKind {
    const xml = this.#xml;
    this.start = this.#pos;
    if (this.#pos >= xml.length) return this.kind = "end";
    if (xml.charCodeAt(this.#pos) === 0x3c /* < */) {
      const c1 = xml.charCodeAt(this.#pos + 1);
      if (c1 === 0x2f /* / */) return this.#closeTag();
      if (c1 !== 0x21 /* ! */ && c1 !== 0x3f /* ? */) return this.#openTag();
    }
    return this.#text();
  }

  /** Character data up to the next tag, across comments, PIs and CDATA sections. */
  #text(): TokenKind {
    const xml = this.#xml;
    let parts: string[] | undefined;
    let first = "";
    let count = 0;
    for (;;) {
      const lt = xml.indexOf("<", this.#pos);
      const end = lt < 0 ? xml.length : lt;
      if (end > this.#pos) {
        const chunk = this.#decodeChars(this.#pos, end);
        if (count === 0) first = chunk;
        else (parts ??= [first]).push(chunk);
        count++;
      }
      this.#pos = end;
      if (lt < 0) break;
      if (xml.startsWith("<!--", lt)) {
        this.#pos = this.#skipPast("-->", lt + 4, "unterminated comment", lt);
      } else if (xml.startsWith("<![CDATA[", lt)) {
        const close = xml.indexOf("]]>", lt + 9);
        if (close < 0) this.fail("unterminated CDATA section", lt);
        const cdata = xml.slice(lt + 9, close);
        const chunk = cdata.includes("\r") ? cdata.replace(/\r\n?/g, "\n") : cdata; // §2.11
        if (count === 0) first = chunk;
        else (parts ??= [first]).push(chunk);
        count++;
        this.#pos = close + 3;
      } else if (xml.startsWith("<?", lt)) {
        this.#processingInstruction(lt);
      } else if (xml.startsWith("<!DOCTYPE", lt) || xml.startsWith("<!ENTITY", lt)) {
        this.fail("DOCTYPE and ENTITY declarations are not allowed", lt);
      } else if (xml.startsWith("<!", lt)) {
        this.fail('malformed markup after "<!"', lt);
      } else {
        break;
      }
    }
    this.text = parts === undefined ? first : parts.join("");
    return this.kind = "text";
  }

  #skipPast(terminator: string, from: number, message: string, start: number): number {
    const at = this.#xml.indexOf(terminator, from);
    if (at < 0) this.fail(message, start);
    return at + terminator.length;
  }

  #processingInstruction(lt: number): void {
    const end = this.#skipPast("?>", lt + 2, "unterminated processing instruction", lt);
    let nameEnd = lt + 2;
    while (nameEnd < end - 2 && isNameCode(this.#xml.charCodeAt(nameEnd))) nameEnd++;
    const target = this.#xml.slice(lt + 2, nameEnd);
    if (target === "") this.fail("malformed processing instruction", lt);
    const atDocumentStart = lt === 0 || (lt === 1 && this.#xml.charCodeAt(0) === 0xfeff);
    if (target.toLowerCase() === "xml" && !atDocumentStart) {
      this.fail("XML declaration not at the start of the document", lt);
    }
    this.#pos = end;
  }

  /** Raw character data between `from` and `to`: line ends normalised, references replaced. */
  #decodeChars(from: number, to: number): string {
    const raw = this.#xml.slice(from, to);
    if (raw.includes("]]>")) this.fail('"]]>" is not allowed in character data', from);
    if (!raw.includes("&") && !raw.includes("\r")) return raw;
    // One pass into a buffer (neither a reference nor CR LF decodes longer than it is written):
    // much faster than slicing and joining when a hostile document is all references.
    const out = new Uint16Array(raw.length);
    let length = 0;
    for (let i = 0; i < raw.length; i++) {
      const unit = raw.charCodeAt(i);
      if (unit === 0x0d) {
        // XML 1.0 §2.11: CR LF and lone CR become LF; "&#13;" (below) survives as CR.
        out[length++] = 0x0a;
        if (raw.charCodeAt(i + 1) === 0x0a) i++;
      } else if (unit !== 0x26 /* & */) {
        out[length++] = unit;
      } else {
        const limit = Math.min(raw.length, i + MAX_REFERENCE_CHARS);
        let semi = i + 1;
        while (semi < limit && raw.charCodeAt(semi) !== 0x3b /* ; */) semi++;
        if (semi >= limit) this.fail('unterminated or overlong reference after "&"', from + i);
        const code = this.#reference(raw, i + 1, semi, from + i);
        if (code > 0xffff) {
          out[length++] = 0xd800 + ((code - 0x10000) >> 10);
          out[length++] = 0xdc00 + ((code - 0x10000) & 0x3ff);
        } else {
          out[length++] = code;
        }
        i = semi;
      }
    }
    return codeUnitsToString(out, length);
  }

  /** The code point of the reference `&…;` whose body is `raw[start, end)`. */
  #reference(raw: string, start: number, end: number, offset: number): number {
    const first = raw.charCodeAt(start);
    const shown = () => JSON.stringify(raw.slice(start - 1, end + 1));
    if (first !== 0x23 /* # */) {
      // The five predefined entities (XML 1.0 §4.6); no others exist without a DTD.
      const length = end - start;
      if (length === 2 && raw.charCodeAt(start + 1) === 0x74 /* t */) {
        if (first === 0x6c /* l */) return 0x3c;
        if (first === 0x67 /* g */) return 0x3e;
      }
      if (length === 3 && raw.startsWith("amp", start)) return 0x26;
      if (length === 4 && raw.startsWith("quot", start)) return 0x22;
      if (length === 4 && raw.startsWith("apos", start)) return 0x27;
      this.fail(`unknown entity ${shown()}`, offset);
    }
    const hex = raw.charCodeAt(start + 1) === 0x78; /* x */
    const digitsStart = start + (hex ? 2 : 1);
    let code = digitsStart === end ? -1 : 0;
    for (let i = digitsStart; i < end && code >= 0; i++) {
      const digit = hexDigit(raw.charCodeAt(i));
      code = digit < 0 || (!hex && digit > 9) ? -1 : code * (hex ? 16 : 10) + digit;
      if (code > 0x10ffff) code = 0x110000; // saturates; the window bounds the digit count anyway
    }
    if (code < 0) this.fail(`malformed character reference ${shown()}`, offset);
    if (!isXmlChar(code)) {
      const name = code > 0x10ffff ? "beyond U+10FFFF" : codePointName(code);
      this.fail(`character reference ${shown()} is ${name}, which XML 1.0 cannot carry`, offset);
    }
    return code;
  }

  /** Reads the tag name that starts at `start` into `name`; returns the position after it. */
  #tagName(start: number, malformed: string): number {
    const xml = this.#xml;
    let pos = start;
    while (pos < xml.length && isNameCode(xml.charCodeAt(pos))) pos++;
    if (pos === start) this.fail(malformed, this.#pos);
    this.name = xml.slice(start, pos);
    return pos;
  }

  #openTag(): TokenKind {
    const xml = this.#xml;
    const lt = this.#pos;
    let pos = this.#tagName(lt + 1, 'malformed tag after "<"');
    // Attributes (e.g. xmlns:ex on the root element): checked for shape, then ignored.
    for (;;) {
      const before = pos;
      while (pos < xml.length && isSpaceCode(xml.charCodeAt(pos))) pos++;
      const code = xml.charCodeAt(pos);
      if (code === 0x3e /* > */) {
        this.selfClosing = false;
        break;
      }
      if (code === 0x2f /* / */ && xml.charCodeAt(pos + 1) === 0x3e) {
        this.selfClosing = true;
        pos++;
        break;
      }
      if (pos === before || pos >= xml.length) {
        this.fail(`malformed tag "<${this.#shortName()}"`, lt);
      }
      pos = this.#attribute(pos, lt);
    }
    this.#pos = pos + 1;
    return this.kind = "open";
  }

  #attribute(pos: number, lt: number): number {
    const xml = this.#xml;
    const nameStart = pos;
    while (pos < xml.length && isNameCode(xml.charCodeAt(pos))) pos++;
    while (pos < xml.length && isSpaceCode(xml.charCodeAt(pos))) pos++;
    if (pos === nameStart || xml.charCodeAt(pos) !== 0x3d /* = */) {
      this.fail(`malformed attribute in "<${this.#shortName()}>"`, nameStart);
    }
    pos++;
    while (pos < xml.length && isSpaceCode(xml.charCodeAt(pos))) pos++;
    const quote = xml[pos];
    if (quote !== '"' && quote !== "'") {
      this.fail(`unquoted attribute in "<${this.#shortName()}>"`, pos);
    }
    const close = xml.indexOf(quote, pos + 1);
    if (close < 0) this.fail(`unterminated tag "<${this.#shortName()}"`, lt);
    if (xml.slice(pos + 1, close).includes("<")) {
      this.fail(`"<" in an attribute of "<${this.#shortName()}>"`, pos);
    }
    return close + 1;
  }

  #closeTag(): TokenKind {
    const xml = this.#xml;
    const lt = this.#pos;
    let pos = this.#tagName(lt + 2, 'malformed end tag after "</"');
    while (pos < xml.length && isSpaceCode(xml.charCodeAt(pos))) pos++;
    if (xml.charCodeAt(pos) !== 0x3e /* > */) {
      this.fail(`malformed end tag "</${this.#shortName()}"`, lt);
    }
    this.#pos = pos + 1;
    this.selfClosing = false;
    return this.kind = "close";
  }
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

/** Whether a Uint16Array's bytes are little-endian here (true on every platform Deno runs on). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** `ignoreBOM`: a U+FEFF written as a reference at the start of a text is data, not a BOM. */
const UTF16 = new TextDecoder("utf-16le", { ignoreBOM: true });

function codeUnitsToString(units: Uint16Array, length: number): string {
  if (LITTLE_ENDIAN) return UTF16.decode(units.subarray(0, length));
  const chunks: string[] = [];
  for (let i = 0; i < length; i += 0x2000) {
    chunks.push(String.fromCharCode(...units.subarray(i, Math.min(length, i + 0x2000))));
  }
  return chunks.join("");
}
