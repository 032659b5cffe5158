/**
 * Which program a hook command starts, read from its `sh -c` text without running it (pure), so
 * that `--check` can say whether a hook would be found before a release depends on it.
 *
 * Only the first simple command counts: leading `VAR=value` assignments and `exec`/`command`
 * are skipped, quotes are removed. A word that expands at run time (`$X`, a backquote, a glob)
 * or a compound command (`if`, `(`, `{`) cannot be judged in advance.
 *
 * @module
 */

/** What the first word of a hook command is. */
export type HookProgram =
  /** A path (absolute, or relative to releasemon's working directory): it must be executable. */
  | { kind: "path"; word: string }
  /** A bare name, looked up like `sh` does: a builtin, or a file in PATH. */
  | { kind: "name"; word: string }
  /** Nothing that can be checked in advance, with the reason. */
  | { kind: "unknown"; word: string; reason: string };

/** Reserved words of sh that start a compound command. */
const COMPOUND_WORDS = new Set(["if", "for", "while", "until", "case", "{", "(", "!", "[["]);
/** Words that run the next word as the command. */
const PREFIX_WORDS = new Set(["exec", "command", "nohup", "env", "time"]);

/** The program `command` (a `sh -c` text) runs first. */
export function hookProgram(command: string): HookProgram {
  const words = _leadingWords(command);
  let index = 0;
  while (index < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[index]!.text)) index++;
  while (index < words.length - 1 && PREFIX_WORDS.has(words[index]!.text)) index++;
  const word = words[index];
  if (word === undefined) return { kind: "unknown", word: "", reason: "no command in it" };
  if (word.expands) {
    return { kind: "unknown", word: word.text, reason: "it expands only when the hook runs" };
  }
  if (COMPOUND_WORDS.has(word.text) || /^[(){}]/.test(word.text)) {
    return { kind: "unknown", word: word.text, reason: "a compound shell command" };
  }
  return word.text.includes("/")
    ? { kind: "path", word: word.text }
    : { kind: "name", word: word.text };
}

interface _Word {
  text: string;
  /** Holds an unquoted or double-quoted `$`, a backquote, or an unquoted glob character. */
  expands: boolean;
}

/** The words of `command` up to the first operator (`;`, `&`, `|`, newline, redirection). */
function _leadingWords(command: string): _Word[] {
  const words: _Word[] = [];
  let text = "";
  let expands = false;
  let started = false;
  const finish = () => {
    if (started) words.push({ text, expands });
    [text, expands, started] = ["", false, false];
  };
  for (let i = 0; i < command.length; i++) {
    const char = command[i]!;
    if (char === "'") {
      const end = command.indexOf("'", i + 1);
      const stop = end < 0 ? command.length : end;
      text += command.slice(i + 1, stop);
      [i, started] = [stop, true];
    } else if (char === '"') {
      started = true;
      for (i++; i < command.length && command[i] !== '"'; i++) {
        if (command[i] === "\\" && i + 1 < command.length) i++;
        else if (command[i] === "$" || command[i] === "`") expands = true;
        text += command[i];
      }
    } else if (char === "\\") {
      text += command[++i] ?? "";
      started = true;
    } else if (/\s/.test(char)) {
      if (char === "\n") break;
      finish();
    } else if (";&|<>".includes(char)) {
      break;
    } else {
      if ("$`*?[".includes(char)) expands = true;
      text += char;
      started = true;
    }
  }
  finish();
  return words;
}
