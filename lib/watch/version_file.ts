/**
 * Reads the version file: a streaming SHA-256 of the whole content (bounded memory for any file
 * size), a short printable label from its first line, or a typed reason why there is no version.
 *
 * `versionLabel()` is pure; the rest does file I/O.
 *
 * @module
 */

import { Sha256 } from "./_sha256.ts";

/** One version: identified by the hash of its content, shown by its label. */
export interface Version {
  /** Hex SHA-256 of the whole content: the identity of the version. */
  hash: string;
  /** The first non-blank line, trimmed, control characters escaped, capped: for humans only. */
  label: string;
  /** Content length in bytes. */
  size: number;
}

/** What reading the version file found. */
export type VersionRead =
  | { kind: "version"; version: Version }
  | { kind: "missing" }
  /** Zero bytes: a write in progress (truncate, then write), not a version. */
  | { kind: "empty" }
  | { kind: "unreadable"; reason: string };

/** Options of {@linkcode readVersion}. */
export interface ReadVersionOptions {
  /** Longest label, in characters, "…" included. @default {80} */
  maxLabelChars?: number;
}

/** A read plus the stat identity of what was read, for the watcher's cheap re-check. */
export interface DetailedRead {
  read: VersionRead;
  /**
   * {@linkcode statIdentity} of the file, from the stat just before it was opened; null when it
   * was missing. Should the file be replaced between the two, the identity is the older one and
   * the next re-check reads again: one read more, never a change missed.
   */
  identity: string | null;
}

const DEFAULT_MAX_LABEL_CHARS = 80;
const CHUNK_BYTES = 64 * 1024;
const ELLIPSIS = "…";

/**
 * Reads the version at `path` (symlinks followed), hashing it chunk by chunk.
 *
 * Never throws for file-system reasons: a missing file (or a missing directory on its path) is
 * `missing`, zero bytes are `empty`, and anything else that stops the read is `unreadable`.
 */
export async function readVersion(
  path: string,
  options?: ReadVersionOptions,
): Promise<VersionRead> {
  return (await readVersionDetailed(path, options)).read;
}

/** {@linkcode readVersion}, also returning the stat identity of the file that was read. */
export async function readVersionDetailed(
  path: string,
  options?: ReadVersionOptions,
): Promise<DetailedRead> {
  const maxLabelChars = checkMaxChars(options?.maxLabelChars ?? DEFAULT_MAX_LABEL_CHARS);
  // Stat first: opening a FIFO for reading would block until a writer comes.
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return failedRead(error);
  }
  if (!info.isFile) {
    const reason = info.isDirectory ? "is a directory" : "not a regular file";
    return { read: { kind: "unreadable", reason }, identity: identityOf(info) };
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    return failedRead(error);
  }
  try {
    const identity = identityOf(info);
    const hash = new Sha256();
    const labelBytes = Math.max(4096, maxLabelChars * 8);
    const head = new Uint8Array(labelBytes);
    const buffer = new Uint8Array(CHUNK_BYTES);
    let size = 0;
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      const chunk = buffer.subarray(0, n);
      if (size < labelBytes) head.set(chunk.subarray(0, labelBytes - size), size);
      hash.update(chunk);
      size += n;
      // The whole file as stat counted it, in a short read: that was the end (a version file is
      // a few bytes; each file-system call skipped is a fraction of a ms off every restart).
      if (size === info.size && n < buffer.length) break;
    }
    if (size === 0) return { read: { kind: "empty" }, identity };
    const label = versionLabel(head.subarray(0, Math.min(size, labelBytes)), maxLabelChars);
    return {
      read: { kind: "version", version: { hash: hash.hex(), label, size } },
      identity,
    };
  } catch (error) {
    return failedRead(error);
  } finally {
    file.close();
  }
}

/**
 * Stat identity of the file at `path` (symlinks followed): device, inode, size, mtime and ctime.
 * Null when it does not exist. Equal identities mean "almost surely the same content", which is
 * what lets the safety-net re-check skip re-hashing.
 */
export async function statIdentity(path: string): Promise<string | null> {
  try {
    return identityOf(await Deno.stat(path));
  } catch {
    // Whatever the reason, a failed stat is an identity that differs from any successful one; the
    // re-read that follows reports the reason.
    return null;
  }
}

function identityOf(info: Deno.FileInfo): string {
  return [info.dev, info.ino, info.size, info.mtime?.getTime(), info.ctime?.getTime()].join(":");
}

function failedRead(error: unknown): DetailedRead {
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
    return { read: { kind: "missing" }, identity: null };
  }
  return { read: { kind: "unreadable", reason: unreadableReason(error) }, identity: null };
}

function unreadableReason(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "no read permission for Deno (--allow-read)";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  if (error instanceof Deno.errors.FilesystemLoop) return "too many levels of symbolic links";
  return error instanceof Error ? error.message : String(error);
}

/**
 * A short, printable label for a version: the first non-blank line of `firstBytes` (UTF-8,
 * invalid bytes replaced), trimmed, with control and bidi-override characters escaped as `\xNN`,
 * `\t` or `\u{NNNN}`, capped at `maxChars` characters with "…" at the end when cut.
 *
 * Pure. The content is untrusted: the label never contains a control character.
 */
export function versionLabel(firstBytes: Uint8Array, maxChars = DEFAULT_MAX_LABEL_CHARS): string {
  checkMaxChars(maxChars);
  // `stream: true` drops a multi-byte character cut at the end of the buffer instead of
  // turning it into U+FFFD.
  const text = new TextDecoder("utf-8", { ignoreBOM: false }).decode(firstBytes, { stream: true });
  const line = text.split(/\r\n|\r|\n/).map((l) => l.trim()).find((l) => l !== "") ?? "";
  const pieces = Array.from(line, escapeChar);
  // Characters are counted as code points, so an emoji counts 1 and is never split in two.
  const widthOf = (piece: string) => piece.length === 1 ? 1 : Array.from(piece).length;
  const total = pieces.reduce((sum, piece) => sum + widthOf(piece), 0);
  if (total <= maxChars) return pieces.join("");
  let label = "";
  let used = 0;
  for (const piece of pieces) {
    // An escape is never cut in half: it goes in whole or not at all.
    if (used + widthOf(piece) > maxChars - 1) break;
    label += piece;
    used += widthOf(piece);
  }
  return label + ELLIPSIS;
}

function escapeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  if (code === 0x09) return "\\t";
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, "0")}`;
  // C1 controls, bidi embeddings/overrides/isolates, line and paragraph separators, and the
  // zero-width no-break space (a BOM in mid-text): invisible, and able to disguise a log line.
  if (
    (code >= 0x80 && code <= 0x9f) || (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) || code === 0x2028 || code === 0x2029 || code === 0xfeff
  ) {
    return `\\u{${code.toString(16).padStart(4, "0")}}`;
  }
  return char;
}

function checkMaxChars(maxChars: number): number {
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw new RangeError(
      `Cannot make a version label of "${maxChars}" characters: must be a positive integer`,
    );
  }
  return maxChars;
}
