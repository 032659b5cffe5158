/**
 * Character classes of XML 1.0 (§2.2 `Char`, §2.3 `S`), shared by the tokenizer and the codec.
 *
 * A leaf: imports nothing.
 *
 * @module
 */

/** Characters XML 1.0 forbids anywhere in a document (§2.2 `Char`), lone surrogates aside. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const FORBIDDEN_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** Whether `code` is a code point XML 1.0 can carry (§2.2 `Char`). */
export function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/** `U+0041` style name of a code point, for messages. */
export function codePointName(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** Index of the first character XML 1.0 cannot carry, or -1 when there is none. */
export function findForbiddenChar(text: string): number {
  const match = FORBIDDEN_CHAR.exec(text);
  if (match !== null) return match.index;
  if (text.isWellFormed()) return -1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return i;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return i;
    }
  }
  return -1;
}

/** Whether a UTF-16 code unit is XML white space (§2.3 `S`). */
export function isSpaceCode(code: number): boolean {
  return code === 0x20 || code === 0x9 || code === 0xa || code === 0xd;
}

/** Whether `text` holds only XML white space (§2.3 `S`). */
export function isXmlSpace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (!isSpaceCode(text.charCodeAt(i))) return false;
  }
  return true;
}

/** `text` without leading and trailing XML white space (unlike `trim()`, keeps U+00A0 etc.). */
export function trimXmlSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpaceCode(text.charCodeAt(start))) start++;
  while (end > start && isSpaceCode(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}
