/**
 * How argparse's `%r` shows a value in an error message under Deno, for `_argv.ts`. Pure.
 *
 * @module
 */

const _ESCAPES: Readonly<Record<string, string>> = {
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\v": "\\v",
  "\f": "\\f",
  "\r": "\\r",
  "\\": "\\\\",
};
const _MAX_REPR_CHARS = 10_000;

/**
 * `text` quoted as argparse's `%r` shows it under Deno (`node:util` inspect): single quotes, else
 * double or backticks when it holds a single quote; C0 and C1 controls and the backslash
 * escaped; lone surrogates as U+FFFD; over 76 characters split after each newline into quoted
 * pieces joined by " +\n  "; cut after 10,000 characters.
 */
export function argparseRepr(text: string): string {
  const cut = text.length > _MAX_REPR_CHARS ? text.slice(0, _MAX_REPR_CHARS) : text;
  const rest = text.length - cut.length;
  const trailer = rest > 0 ? `... ${rest} more character${rest > 1 ? "s" : ""}` : "";
  const pieces = cut.length > 76 ? cut.split(/(?<=\n)/) : [cut];
  return pieces.map(_quoteOne).join(" +\n  ") + trailer;
}

function _quoteOne(text: string): string {
  const well = text.toWellFormed();
  let quote = "'";
  if (well.includes("'")) {
    if (!well.includes('"')) quote = '"';
    else if (!well.includes("`")) quote = "`";
  }
  // deno-lint-ignore no-control-regex
  return quote + well.replace(/[\x00-\x1f\x27\x5c\x7f-\x9f]/g, (char) => {
    if (char === "'") return quote === "'" ? "\\'" : char;
    return _ESCAPES[char] ?? `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
  }) + quote;
}
