import assert from "node:assert/strict";
import { redactUrl } from "../../lib/errors.ts";

Deno.test("redactUrl() hides user:password, :password and user-only userinfo", () => {
  const cases: [string, string][] = [
    ["https://secret@host:9001", "https://***@host:9001"],
    ["http://user:pw@host:9001/RPC2", "http://***@host:9001/RPC2"],
    ["redis://:pw@host", "redis://***@host"],
    ["redis://u:p@ss@h:1/0", "redis://***@h:1/0"],
    ["http://user:pa/ss@host", "http://***@host"],
    ["u:pw@h:1", "***@h:1"],
    ["unix://u:pw@/run/s.sock", "unix://***@/run/s.sock"],
  ];
  for (const [url, shown] of cases) assert.equal(redactUrl(url), shown, url);
});

Deno.test("redactUrl() leaves URLs without userinfo, and an @ in a socket path or query, alone", () => {
  for (
    const url of [
      "http://h:1",
      "unix:///run/a@b.sock",
      "redis://h/0?a=b@c",
      "redis://h/0#x@y",
      "",
    ]
  ) {
    assert.equal(redactUrl(url), url);
  }
});
