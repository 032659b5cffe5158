import assert from "node:assert/strict";
import { modeWarning } from "../../lib/safety.ts";

Deno.test("modeWarning() says nothing for files and directories others cannot write", () => {
  assert.equal(modeWarning("/app/.version", 0o100644, "file"), null);
  assert.equal(modeWarning("/app", 0o40775, "directory"), null);
});

Deno.test("modeWarning() warns about a world-writable version file, with the fix", () => {
  assert.equal(
    modeWarning("/app/.version", 0o100666, "file"),
    'Version file "/app/.version" is writable by every user (mode 0666): anyone on this host ' +
      "can trigger restarts; run chmod o-w on it",
  );
});

Deno.test("modeWarning() warns about a world-writable directory and notes the sticky bit", () => {
  assert.match(modeWarning("/srv", 0o40777, "directory")!, /^Directory "\/srv" .* \(mode 0777\):/);
  assert.match(modeWarning("/tmp", 0o41777, "directory")!, /mode 1777\) \(sticky: /);
});
