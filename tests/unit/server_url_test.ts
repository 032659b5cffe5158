import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import { parseServerUrl, type ServerEndpoint } from "../../lib/supervisor/server_url.ts";

const PASSWORD = "s3cret-Pa55";

Deno.test("parseServerUrl() accepts the URLs supervisorctl takes", () => {
  const cases: [string, ServerEndpoint][] = [
    ["unix:///run/supervisor.sock", {
      kind: "unix",
      path: "/run/supervisor.sock",
      url: "unix:///run/supervisor.sock",
    }],
    ["unix:///tmp/my@app.sock", {
      kind: "unix",
      path: "/tmp/my@app.sock",
      url: "unix:///tmp/my@app.sock",
    }],
    ["UNIX:///run/s.sock", { kind: "unix", path: "/run/s.sock", url: "unix:///run/s.sock" }],
    ["http://127.0.0.1:9001", {
      kind: "tcp",
      hostname: "127.0.0.1",
      port: 9001,
      url: "http://127.0.0.1:9001",
    }],
    ["http://localhost", {
      kind: "tcp",
      hostname: "localhost",
      port: 80,
      url: "http://localhost:80",
    }],
    ["http://Example.COM:9001/", {
      kind: "tcp",
      hostname: "example.com",
      port: 9001,
      url: "http://example.com:9001",
    }],
    ["http://host:9001/RPC2", {
      kind: "tcp",
      hostname: "host",
      port: 9001,
      url: "http://host:9001",
    }],
    ["http://[::1]:9001", { kind: "tcp", hostname: "::1", port: 9001, url: "http://[::1]:9001" }],
    ["http://[0:0::1]", { kind: "tcp", hostname: "::1", port: 80, url: "http://[::1]:80" }],
    ["http://host:", { kind: "tcp", hostname: "host", port: 80, url: "http://host:80" }],
  ];
  for (const [url, expected] of cases) {
    assert.deepEqual(parseServerUrl(url), expected, url);
  }
});

Deno.test("parseServerUrl() rejects other URLs with a UsageError naming the URL", () => {
  const cases: [string, string][] = [
    ["ftp://x", 'Cannot use server URL "ftp://x": only unix:// and http:// URLs are supported'],
    [
      "https://host:9001",
      'Cannot use server URL "https://host:9001": only unix:// and http:// ' +
      "URLs are supported",
    ],
    [
      "/run/supervisor.sock",
      'Cannot use server URL "/run/supervisor.sock": only unix:// and ' +
      "http:// URLs are supported",
    ],
    [
      "",
      'Cannot use server URL "": it is empty; use unix:///path/to/supervisor.sock or ' +
      "http://host:port",
    ],
    [" http://h:1", 'Cannot use server URL " http://h:1": it has leading or trailing whitespace'],
    [
      "unix:///run/s\n.sock",
      'Cannot use server URL "unix:///run/s\\n.sock": it contains ' +
      "control characters",
    ],
    ["unix://", 'Cannot use server URL "unix://": no socket path after unix://'],
    [
      "unix://run/s.sock",
      'Cannot use server URL "unix://run/s.sock": the socket path must be ' +
      "absolute, as in unix:///run/supervisor.sock",
    ],
    [
      "unix:///run/",
      'Cannot use server URL "unix:///run/": the socket path names a directory, ' +
      "not a socket file",
    ],
    ["http://", 'Cannot use server URL "http://": no host name'],
    ["http://:9001", 'Cannot use server URL "http://:9001": no host name'],
    [
      "http://host:0",
      'Cannot use server URL "http://host:0": port "0" is not a number from 1 ' +
      "to 65535",
    ],
    [
      "http://host:65536",
      'Cannot use server URL "http://host:65536": port "65536" is not a ' +
      "number from 1 to 65535",
    ],
    [
      "http://host:90x1",
      'Cannot use server URL "http://host:90x1": port "90x1" is not a number ' +
      "from 1 to 65535",
    ],
    [
      "http://::1:9001",
      'Cannot use server URL "http://::1:9001": an IPv6 address must be in ' +
      "brackets, as in http://[::1]:9001",
    ],
    [
      "http://host:9001/api",
      'Cannot use server URL "http://host:9001/api": unexpected path ' +
      '"/api"; releasemon always posts to /RPC2, so give only host:port',
    ],
    [
      "http://host:9001?x=1",
      'Cannot use server URL "http://host:9001?x=1": unexpected path ' +
      '"?x=1"; releasemon always posts to /RPC2, so give only host:port',
    ],
    [
      "http://ho st:9001",
      'Cannot use server URL "http://ho st:9001": "ho st" is not a valid ' +
      "host name",
    ],
  ];
  for (const [url, message] of cases) {
    assert.throws(() => parseServerUrl(url), { name: "UsageError", message }, url);
  }
});

Deno.test("parseServerUrl() redacts credentials in a URL and points at the environment", () => {
  const urls = [
    `http://admin:${PASSWORD}@localhost:9001`,
    `http://admin:${PASSWORD}@localhost:9001/RPC2`,
    `http://admin:pa/${PASSWORD}@localhost:9001`,
    `http://:${PASSWORD}@[::1]:9001`,
    `unix://admin:${PASSWORD}@/run/supervisor.sock`,
    `https://admin:${PASSWORD}@localhost:9001`,
    `admin:${PASSWORD}@localhost:9001`,
  ];
  for (const url of urls) {
    const error = thrownBy(() => parseServerUrl(url));
    assert.ok(error instanceof UsageError, url);
    assert.ok(!error.message.includes(PASSWORD), error.message);
    assert.ok(error.message.includes("***@"), error.message);
    assert.ok(
      error.message.endsWith(
        "credentials in the URL are not supported; set SUPERVISOR_USERNAME and " +
          "SUPERVISOR_PASSWORD instead",
      ),
      error.message,
    );
  }
  assert.throws(() => parseServerUrl(`http://admin:${PASSWORD}@host:9001`), {
    name: "UsageError",
    message: 'Cannot use server URL "http://***@host:9001": credentials in the URL are not ' +
      "supported; set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD instead",
  });
});

Deno.test("parseServerUrl() never echoes user, password or token credentials, whatever the error", () => {
  // user:password, :password and user-only (a token) forms, each with a URL that fails for
  // another reason too (scheme, path, port), so every failure path is covered.
  const urls = [
    `https://${PASSWORD}@host:9001`,
    `https://admin:${PASSWORD}@host:9001`,
    `https://:${PASSWORD}@host:9001`,
    `ftp://${PASSWORD}@host`,
    `http://${PASSWORD}@host:9001/x`,
    `http://admin:${PASSWORD}@host:99999`,
    `http://:${PASSWORD}@host:9001 `,
    `unix://${PASSWORD}@/run/s.sock`,
    `${PASSWORD}@host:9001`,
  ];
  for (const url of urls) {
    const error = thrownBy(() => parseServerUrl(url));
    assert.ok(error instanceof UsageError, url);
    assert.ok(!error.message.includes(PASSWORD), error.message);
    assert.match(error.message, /^Cannot use server URL "[a-z]*(:\/\/)?\*\*\*@/, error.message);
  }
  assert.throws(() => parseServerUrl(`https://${PASSWORD}@host:9001`), {
    name: "UsageError",
    message: 'Cannot use server URL "https://***@host:9001": credentials in the URL are not ' +
      "supported; set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD instead",
  });
});

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return assert.fail("expected an exception");
}
