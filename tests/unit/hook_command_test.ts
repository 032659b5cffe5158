import assert from "node:assert/strict";
import { hookProgram } from "../../lib/ops/hook_command.ts";

Deno.test("hookProgram() finds the first program of a sh command", () => {
  const cases: [string, ReturnType<typeof hookProgram>][] = [
    ["/app/bin/migrate --force", { kind: "path", word: "/app/bin/migrate" }],
    ["./bin/notify", { kind: "path", word: "./bin/notify" }],
    ['curl -fsS "$HOOK_URL?v=$RELEASEMON_VERSION"', { kind: "name", word: "curl" }],
    ["RAILS_ENV=production bundle exec rake db:migrate", { kind: "name", word: "bundle" }],
    ["exec /usr/bin/env true", { kind: "path", word: "/usr/bin/env" }],
    ["'/opt/my app/hook' arg", { kind: "path", word: "/opt/my app/hook" }],
    ["true; /never/checked", { kind: "name", word: "true" }],
    ["logger -t deploy done|cat", { kind: "name", word: "logger" }],
  ];
  for (const [command, expected] of cases) {
    assert.deepEqual(hookProgram(command), expected, command);
  }
});

Deno.test("hookProgram() does not judge what expands at run time or compound commands", () => {
  assert.equal(hookProgram("$HOOK arg").kind, "unknown");
  assert.equal(hookProgram('"$HOME/bin/hook"').kind, "unknown");
  assert.equal(hookProgram("if true; then x; fi").kind, "unknown");
  assert.equal(hookProgram("(cd /app && make)").kind, "unknown");
  assert.equal(hookProgram("   ").kind, "unknown");
  // Single quotes keep a dollar literal.
  assert.deepEqual(hookProgram("'/opt/$weird'"), { kind: "path", word: "/opt/$weird" });
});
