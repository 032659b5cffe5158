import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import { parseFleetUrl } from "../../lib/fleet/fleet_url.ts";

Deno.test("parseFleetUrl() reads host, port, database and TLS", () => {
  const cases: [string, ReturnType<typeof parseFleetUrl>][] = [
    ["redis://redis.internal", {
      host: "redis.internal",
      port: 6379,
      db: 0,
      tls: false,
      url: "redis://redis.internal:6379/0",
    }],
    ["redis://10.0.0.5:6380/3", {
      host: "10.0.0.5",
      port: 6380,
      db: 3,
      tls: false,
      url: "redis://10.0.0.5:6380/3",
    }],
    ["rediss://Cache.Example.COM:6390/", {
      host: "cache.example.com",
      port: 6390,
      db: 0,
      tls: true,
      url: "rediss://cache.example.com:6390/0",
    }],
    ["REDIS://[::1]:7000/12", {
      host: "::1",
      port: 7000,
      db: 12,
      tls: false,
      url: "redis://[::1]:7000/12",
    }],
  ];
  for (const [url, expected] of cases) assert.deepEqual(parseFleetUrl(url), expected, url);
});

Deno.test("parseFleetUrl() refuses credentials without echoing them", () => {
  for (
    const url of [
      "redis://:hunter2@cache:6379/0",
      "redis://admin:hunter2@cache",
      "rediss://hunter2@cache/1",
      "ftp://admin:hunter2@cache",
    ]
  ) {
    assert.throws(() => parseFleetUrl(url), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.ok(!error.message.includes("hunter2"), error.message);
      assert.match(
        error.message,
        /: credentials in the URL are not supported; set RELEASEMON_FLEET_PASSWORD instead$/,
      );
      return true;
    });
  }
  assert.throws(() => parseFleetUrl("redis://:hunter2@cache:6379/0"), {
    message:
      'Cannot use fleet URL "redis://***@cache:6379/0": credentials in the URL are not supported; set RELEASEMON_FLEET_PASSWORD instead',
  });
});

Deno.test("parseFleetUrl() names what is wrong with a bad URL", () => {
  const cases: [string, string][] = [
    ["", "it is empty; use redis://host:port/db or rediss://host:port/db"],
    ["http://cache:6379", "only redis:// and rediss:// (TLS) URLs are supported"],
    ["cache:6379", "only redis:// and rediss:// (TLS) URLs are supported"],
    ["redis://", "no host name"],
    ["redis://cache:0", 'port "0" is not a number from 1 to 65535'],
    ["redis://cache:70000", 'port "70000" is not a number from 1 to 65535'],
    ["redis://cache:x", 'port "x" is not a number from 1 to 65535'],
    ["redis://cache/db1", 'database "db1" is not a number from 0 to 2147483647'],
    [
      "redis://cache/0?password=x",
      'unexpected query or fragment "/0?password=x"; give only host, port and database',
    ],
    ["redis://::1:6379", "an IPv6 address must be in brackets, as in redis://[::1]:6379/0"],
    [" redis://cache", "it has leading or trailing whitespace"],
  ];
  for (const [url, detail] of cases) {
    assert.throws(() => parseFleetUrl(url), {
      name: "UsageError",
      message: `Cannot use fleet URL ${JSON.stringify(url)}: ${detail}`,
    }, url);
  }
});

Deno.test("parseFleetUrl() never echoes user, password or token credentials, whatever the error", () => {
  for (
    const url of [
      "redis://hunter2@cache:6379/0",
      "redis://admin:hunter2@cache:6379/0",
      "redis://:hunter2@cache:6379/0",
      "http://hunter2@cache:6379",
      "redis://:hunter2@cache:6379/0?x=1",
      "redis://admin:hunter2@cache:0",
      " redis://hunter2@cache",
      "hunter2@cache:6379",
    ]
  ) {
    assert.throws(() => parseFleetUrl(url), (error: unknown) => {
      assert.ok(error instanceof UsageError, url);
      assert.ok(!error.message.includes("hunter2"), error.message);
      assert.match(error.message, /^Cannot use fleet URL "[ a-z]*(:\/\/)?\*\*\*@cache/);
      return true;
    });
  }
});
