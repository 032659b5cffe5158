/**
 * The bits of Python that `[include]` globbing relies on, for `conf_file.ts`: `fnmatch`,
 * `posixpath`, `glob.has_magic` and `sorted` for str, as CPython 3.11 behaves. Pure: no `Deno.*`.
 *
 * @module
 */

// ---- Python's fnmatch -------------------------------------------------------------------

/**
 * Python's `fnmatch.fnmatchcase(name, pattern)`: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`; a `[`
 * without its `]` is literal; characters are Unicode code points.
 */
export function fnmatch(name: string, pattern: string): boolean {
  const tokens = _compileGlob(pattern);
  const chars = Array.from(name, (c) => c.codePointAt(0) ?? 0);
  // Every token but `*` takes one character: backtrack to the last `*` on a mismatch.
  let t = 0;
  let c = 0;
  let starToken = -1;
  let starChar = 0;
  while (c < chars.length) {
    const token = tokens[t];
    if (token?.kind === "star") {
      starToken = t++;
      starChar = c;
    } else if (token !== undefined && _matchesOne(token, chars[c] ?? 0)) {
      t++;
      c++;
    } else if (starToken >= 0) {
      t = starToken + 1;
      c = ++starChar;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === "star") t++;
  return t === tokens.length;
}

const STAR = 0x2a; // *
const QUESTION = 0x3f; // ?
const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const BANG = 0x21; // !
const DASH = 0x2d; // -

type GlobToken =
  | { kind: "star" }
  | { kind: "any" }
  | { kind: "char"; code: number }
  | { kind: "set"; negated: boolean; ranges: [number, number][] };

/** Python's `fnmatch.translate`, as tokens instead of a regular expression. */
function _compileGlob(pattern: string): GlobToken[] {
  const pat = Array.from(pattern, (c) => c.codePointAt(0) ?? 0);
  const tokens: GlobToken[] = [];
  let i = 0;
  while (i < pat.length) {
    const c = pat[i++];
    if (c === STAR) {
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star" });
    } else if (c === QUESTION) {
      tokens.push({ kind: "any" });
    } else if (c === OPEN) {
      let j = i;
      if (pat[j] === BANG) j++;
      if (pat[j] === CLOSE) j++;
      while (j < pat.length && pat[j] !== CLOSE) j++;
      if (j >= pat.length) {
        tokens.push({ kind: "char", code: OPEN });
        continue;
      }
      // Split at the hyphens that make ranges: the first character (after `!`) is never one.
      const chunks: number[][] = [];
      let start = i;
      let k = pat[i] === BANG ? i + 2 : i + 1;
      for (;;) {
        k = pat.indexOf(DASH, k);
        if (k < 0 || k >= j) break;
        chunks.push(pat.slice(start, k));
        start = k + 1;
        k += 3;
      }
      const last = pat.slice(start, j);
      if (last.length > 0) chunks.push(last);
      else chunks.at(-1)?.push(DASH);
      // A reversed range (z-a) matches nothing: drop it with its end points.
      for (let m = chunks.length - 1; m > 0; m--) {
        const before = chunks[m - 1] ?? [];
        const after = chunks[m] ?? [];
        if ((before.at(-1) ?? 0) > (after[0] ?? 0)) {
          chunks.splice(m - 1, 2, [...before.slice(0, -1), ...after.slice(1)]);
        }
      }
      i = j + 1;
      const flat = chunks.flat();
      if (flat.length === 0) {
        tokens.push({ kind: "set", negated: false, ranges: [] });
      } else if (flat.length === 1 && flat[0] === BANG) {
        tokens.push({ kind: "any" });
      } else {
        const negated = flat[0] === BANG;
        if (negated) chunks[0]?.shift();
        const ranges: [number, number][] = chunks.flat().map((code) => [code, code]);
        for (let m = 1; m < chunks.length; m++) {
          ranges.push([chunks[m - 1]?.at(-1) ?? 0, chunks[m]?.[0] ?? 0]);
        }
        tokens.push({ kind: "set", negated, ranges });
      }
    } else {
      tokens.push({ kind: "char", code: c ?? 0 });
    }
  }
  return tokens;
}

function _matchesOne(token: GlobToken, code: number): boolean {
  switch (token.kind) {
    case "star":
    case "any":
      return true;
    case "char":
      return token.code === code;
    case "set":
      return token.ranges.some(([low, high]) => low <= code && code <= high) !== token.negated;
  }
}

// ---- Python's posixpath, glob and sorted ------------------------------------------------

/** `posixpath.normpath`: drops `.`, `..` and doubled slashes; keeps exactly two leading ones. */
export function normpath(path: string): string {
  if (path === "") return ".";
  const slashes = path.startsWith("//") && !path.startsWith("///")
    ? 2
    : path.startsWith("/")
    ? 1
    : 0;
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== ".." || (slashes === 0 && parts.length === 0) || parts.at(-1) === "..") {
      parts.push(part);
    } else if (parts.length > 0) {
      parts.pop();
    }
  }
  return "/".repeat(slashes) + parts.join("/") || ".";
}

/** `posixpath.join(base, path)`: an absolute `path` replaces `base`. */
export function joinPath(base: string, path: string): string {
  if (path.startsWith("/")) return path;
  return base === "" || base.endsWith("/") ? base + path : `${base}/${path}`;
}

/** `posixpath.split`: the head loses its trailing slashes unless it is all slashes. */
export function splitPath(path: string): [string, string] {
  const cut = path.lastIndexOf("/") + 1;
  let head = path.slice(0, cut);
  if (head !== "" && !/^\/+$/.test(head)) head = head.replace(/\/+$/, "");
  return [head, path.slice(cut)];
}

/** `posixpath.dirname`. */
export function parentDir(path: string): string {
  return splitPath(path)[0];
}

/** Python's `sorted` for str: by code point (JS compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const left = Array.from(a, (c) => c.codePointAt(0) ?? 0);
  const right = Array.from(b, (c) => c.codePointAt(0) ?? 0);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}

/** `glob.has_magic`: does the path hold `*`, `?` or `[`? */
export function hasGlobMagic(path: string): boolean {
  return /[*?[]/.test(path);
}
