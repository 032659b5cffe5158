// Reading connection settings from supervisord.conf text: the INI rules (checked against CPython
// 3.11's configparser as supervisor configures it), `%(name)s` expansion, the [supervisorctl] →
// [unix_http_server] → [inet_http_server] fallbacks, and the error messages. No permissions.
import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import {
  type ConfConnection,
  type ConfContext,
  connectionFromSections,
  parseIni,
} from "../../lib/supervisor/conf_file.ts";
import {
  compareCodePoints,
  fnmatch,
  joinPath,
  normpath,
  splitPath,
} from "../../lib/supervisor/_py_paths.ts";
import { expandPercent } from "../../lib/supervisor/ini.ts";

const CONF = "/etc/supervisor/supervisord.conf";
const HERE = "/etc/supervisor";
const PASSWORD = "s3cret-Pa55";

function sections(text: string): Record<string, Record<string, string>> {
  return Object.fromEntries(
    [...parseIni(text, CONF)].map(([name, options]) => [name, Object.fromEntries(options)]),
  );
}

function connect(text: string, context: ConfContext = {}): ConfConnection {
  return connectionFromSections(parseIni(text, CONF), HERE, CONF, { cwd: "/srv/app", ...context });
}

function env(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => vars[name];
}

/** Asserts a UsageError with exactly `message`, which never holds the password. */
function assertUsageError(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, message);
    assert.ok(!error.message.includes(PASSWORD));
    return true;
  });
}

// ---- parseIni ----------------------------------------------------------------------------------

Deno.test("parseIni() reads sections with `=` and `:` settings, lower-casing keys", () => {
  assert.deepEqual(
    sections(
      "[supervisorctl]\nserverurl = unix:///run/s.sock\nUserName: admin\nPassword=  x y  \n" +
        "[unix_http_server]\nfile=/run/s.sock\nchmod =\n",
    ),
    {
      supervisorctl: { serverurl: "unix:///run/s.sock", username: "admin", password: "x y" },
      unix_http_server: { file: "/run/s.sock", chmod: "" },
    },
  );
});

Deno.test("parseIni() splits at the first `=` or `:`, whichever comes first", () => {
  assert.deepEqual(sections("[s]\na:b=c\nd=e:f\nurl = http://h:1\n"), {
    s: { a: "b=c", d: "e:f", url: "http://h:1" },
  });
});

Deno.test("parseIni() takes section names as written: not trimmed, not lower-cased", () => {
  assert.deepEqual(sections("[ Spaced ]\na=1\n[a]b] trailing text\nb=2\n[Supervisorctl]\nc=3\n"), {
    " Spaced ": { a: "1" },
    "a]b": { b: "2" },
    Supervisorctl: { c: "3" },
  });
});

Deno.test("parseIni() skips full-line comments starting with ; or #, indented or not", () => {
  assert.deepEqual(sections("; top\n# top\n[s]\n  ; indented\n\t# indented\na=1\n;a=2\n"), {
    s: { a: "1" },
  });
});

Deno.test("parseIni() strips inline comments only after whitespace", () => {
  assert.deepEqual(
    sections(
      "[s]\na = x ; comment\nb = x # comment\nc = pa#ss;word\nd = x\t;tab\ne=;\nf = a;b #c\n",
    ),
    { s: { a: "x", b: "x", c: "pa#ss;word", d: "x", e: ";", f: "a;b" } },
  );
});

Deno.test("parseIni() keeps configparser's quirk: the first round with a comment wins", () => {
  // Round 1 finds `;` in `x;y` (not a comment) and `#` in ` #d` (a comment), so ` ;c` survives.
  assert.deepEqual(sections("[s]\na = x;y ;c #d\nb = x#y #c ;d\n"), {
    s: { a: "x;y ;c", b: "x#y #c" },
  });
});

Deno.test("parseIni() joins deeper-indented continuation lines with newlines", () => {
  assert.deepEqual(
    sections(
      "[s]\nfiles = a.conf\n  b.conf ; comment\n\n    ; a comment line is skipped\n\tc.conf\n\n\n" +
        "next = 1\n",
    ),
    { s: { files: "a.conf\nb.conf\n\nc.conf", next: "1" } },
  );
});

Deno.test("parseIni() treats an indented line after a header as a setting, not a continuation", () => {
  assert.deepEqual(sections("[s]\n  a = 1\n  b = 2\n    more\n"), { s: { a: "1", b: "2\nmore" } });
});

Deno.test("parseIni() merges a repeated section and keeps the last value of a repeated key", () => {
  assert.deepEqual(sections("[s]\na=1\nb=1\n[t]\nx=1\n[s]\na=2\nA=3\n"), {
    s: { a: "3", b: "1" },
    t: { x: "1" },
  });
});

Deno.test("parseIni() accepts \\r\\n and \\r line endings", () => {
  assert.deepEqual(sections("[s]\r\na=1\r\n  more\rb=2\r"), { s: { a: "1\nmore", b: "2" } });
});

Deno.test("parseIni() keeps [DEFAULT] as a section", () => {
  assert.deepEqual(sections("[DEFAULT]\npassword=x\n[s]\n"), { DEFAULT: { password: "x" }, s: {} });
});

Deno.test("parseIni() rejects a setting before the first section header, naming file and line", () => {
  assertUsageError(
    () => parseIni("; comment\n\npassword = " + PASSWORD + "\n[s]\n", CONF),
    `Cannot parse supervisord config "${CONF}": line 3: a setting comes before the first ` +
      `[section] header`,
  );
});

Deno.test("parseIni() lists every line that is neither header nor setting, without its text", () => {
  assertUsageError(
    () => parseIni(`[s]\na=1\npassword ${PASSWORD}\n= nameless\n[]\n`, CONF),
    `Cannot parse supervisord config "${CONF}": lines 3, 4, 5: expected a [section] header ` +
      `or a "name = value" setting`,
  );
  assertUsageError(
    () => parseIni("[s]\n" + "bad\n".repeat(8), "/x.conf"),
    `Cannot parse supervisord config "/x.conf": lines 2, 3, 4, 5, 6 and 3 more: expected a ` +
      `[section] header or a "name = value" setting`,
  );
});

Deno.test("parseIni() rejects a byte order mark, as supervisord does", () => {
  assertUsageError(
    () => parseIni("\ufeff[s]\na=1\n", CONF),
    `Cannot parse supervisord config "${CONF}": line 1 starts with a byte order mark ` +
      "(U+FEFF), which supervisord does not accept",
  );
});

// ---- expandPercent, fnmatch, paths ----------------------------------------------------------

Deno.test("expandPercent() replaces %(name)s and %%, in one pass", () => {
  const names: Record<string, string> = { here: "/etc/x", ENV_A: "%(here)s", "a(b)c": "nested" };
  const lookup = (name: string) => names[name];
  assert.deepEqual(expandPercent("unix://%(here)s/s.sock", lookup), {
    ok: true,
    value: "unix:///etc/x/s.sock",
  });
  assert.deepEqual(expandPercent("100%% %(ENV_A)s %(a(b)c)s", lookup), {
    ok: true,
    value: "100% %(here)s nested",
  });
  assert.deepEqual(expandPercent("plain", lookup), { ok: true, value: "plain" });
});

Deno.test("expandPercent() reports unknown names and the forms it does not accept", () => {
  const lookup = () => undefined;
  assert.deepEqual(expandPercent("x%(ENV_NOPE)s", lookup), {
    ok: false,
    failure: { kind: "unknown-name", name: "ENV_NOPE" },
  });
  for (const [value, offset] of [["50%", 2], ["%s", 0], ["a%(here)r", 1], ["%(here", 0]] as const) {
    assert.deepEqual(expandPercent(value, () => "x"), {
      ok: false,
      failure: { kind: "bad-format", offset },
    }, value);
  }
});

Deno.test("fnmatch() follows Python's fnmatchcase", () => {
  const cases: [string, string, boolean][] = [
    ["a.conf", "*.conf", true],
    ["a.conf", "*.CONF", false],
    ["a.conf.bak", "*.conf", false],
    ["ab", "a?", true],
    ["a", "a?", false],
    ["b.conf", "[abc].conf", true],
    ["d.conf", "[!abc].conf", true],
    ["a.conf", "[!abc].conf", false],
    ["m", "[a-z]", true],
    ["-", "[a-]", true],
    ["]", "[]]", true],
    ["!", "[!]", false],
    ["[!]", "[!]", true],
    ["b", "[z-a]", false],
    ["x", "[!z-a]", true],
    ["[x", "[x", true],
    ["😀.conf", "?.conf", true],
    ["", "*", true],
    ["abcabd", "*ab?", true],
  ];
  for (const [name, pattern, expected] of cases) {
    assert.equal(fnmatch(name, pattern), expected, `${name} ~ ${pattern}`);
  }
});

Deno.test("normpath(), joinPath() and splitPath() follow posixpath", () => {
  assert.equal(normpath("/a//b/./c/../d/"), "/a/b/d");
  assert.equal(normpath("//a/../b"), "//b");
  assert.equal(normpath("///a"), "/a");
  assert.equal(normpath("/../a"), "/a");
  assert.equal(joinPath("/etc/supervisor", "conf.d/*.conf"), "/etc/supervisor/conf.d/*.conf");
  assert.equal(joinPath("/etc/supervisor", "/opt/x.conf"), "/opt/x.conf");
  assert.deepEqual(splitPath("/a//b"), ["/a", "b"]);
  assert.deepEqual(splitPath("/a/"), ["/a", ""]);
  assert.deepEqual(splitPath("/x"), ["/", "x"]);
});

Deno.test("compareCodePoints() sorts like Python (by code point, not UTF-16 unit)", () => {
  assert.deepEqual(["\uffff", "😀", "b", "a"].sort(compareCodePoints), ["a", "b", "\uffff", "😀"]);
});

// ---- connectionFromSections: [supervisorctl] ---------------------------------------------------

Deno.test("connectionFromSections() takes [supervisorctl] serverurl, username and password", () => {
  assert.deepEqual(
    connect(
      "[supervisorctl]\nserverurl = http://127.0.0.1:9001\nusername = admin\n" +
        `password = ${PASSWORD}\n[unix_http_server]\nfile=/run/other.sock\n`,
    ),
    {
      serverUrl: "http://127.0.0.1:9001",
      username: "admin",
      password: PASSWORD,
      source: `[supervisorctl] in ${CONF}`,
    },
  );
});

Deno.test("connectionFromSections() expands %(here)s and %(ENV_X)s in serverurl", () => {
  assert.equal(
    connect("[supervisorctl]\nserverurl=unix://%(here)s/run/%(ENV_APP)s.sock\n", {
      env: env({ APP: "web" }),
    }).serverUrl,
    "unix:///etc/supervisor/run/web.sock",
  );
});

Deno.test("connectionFromSections() expands %(ENV_X)s in username and password", () => {
  const connection = connect(
    "[supervisorctl]\nserverurl=unix:///run/s.sock\nusername=%(ENV_U)s\npassword=%(ENV_P)s\n",
    { env: env({ U: "admin", P: PASSWORD }) },
  );
  assert.equal(connection.username, "admin");
  assert.equal(connection.password, PASSWORD);
  assert.ok(!connection.source.includes(PASSWORD));
});

Deno.test("connectionFromSections() normalises a unix:// path like supervisorctl", () => {
  const cases: [string, string][] = [
    ["unix://run/s.sock", "unix:///srv/app/run/s.sock"],
    ["unix://../s.sock", "unix:///srv/s.sock"],
    ["unix:///run//x/../s.sock", "unix:///run/s.sock"],
    ["unix://~/s.sock", "unix:///home/ops/s.sock"],
    ["unix://~", "unix:///home/ops"],
  ];
  for (const [url, expected] of cases) {
    const text = `[supervisorctl]\nserverurl=${url}\n`;
    assert.equal(connect(text, { env: env({ HOME: "/home/ops/" }) }).serverUrl, expected, url);
  }
});

Deno.test("connectionFromSections() uses [DEFAULT] values for [supervisorctl]", () => {
  assert.deepEqual(
    connect("[DEFAULT]\nusername=admin\npassword=pw\n[supervisorctl]\nserverurl=unix:///s\n"),
    {
      serverUrl: "unix:///s",
      username: "admin",
      password: "pw",
      source: `[supervisorctl] in ${CONF}`,
    },
  );
});

Deno.test("connectionFromSections() rejects a bad serverurl, saying where it came from", () => {
  assertUsageError(
    () => connect("[supervisorctl]\nserverurl=ftp://host\n"),
    `Cannot use server URL "ftp://host": only unix:// and http:// URLs are supported ` +
      `(from [supervisorctl] in ${CONF})`,
  );
  assertUsageError(
    () => connect("[supervisorctl]\nserverurl=\n[unix_http_server]\nfile=/run/s.sock\n"),
    `Cannot use server URL "": it is empty; use unix:///path/to/supervisor.sock or ` +
      `http://host:port (from [supervisorctl] in ${CONF})`,
  );
});

Deno.test("connectionFromSections() never echoes credentials in a serverurl", () => {
  for (
    const url of [
      "https://hunter2@host:9001",
      "http://admin:hunter2@host:9001",
      "http://:hunter2@host:9001",
      "http://hunter2@host:9001",
    ]
  ) {
    assert.throws(() => connect(`[supervisorctl]\nserverurl=${url}\n`), (error: unknown) => {
      assert.ok(error instanceof UsageError, url);
      assert.ok(!error.message.includes("hunter2"), error.message);
      assert.match(error.message, /^Cannot use server URL "https?:\/\/\*\*\*@host:9001": /);
      return true;
    });
  }
});

// ---- connectionFromSections: fallbacks -------------------------------------------------------

Deno.test("connectionFromSections() falls back to [unix_http_server] file, with its credentials", () => {
  assert.deepEqual(
    connect(
      `[supervisorctl]\nprompt=x\n[unix_http_server]\nfile=%(here)s/s.sock\nusername=u\n` +
        `password=${PASSWORD}\n[inet_http_server]\nport=9001\n`,
    ),
    {
      serverUrl: "unix:///etc/supervisor/s.sock",
      username: "u",
      password: PASSWORD,
      source: `[unix_http_server] in ${CONF}`,
    },
  );
});

Deno.test("connectionFromSections() resolves a relative [unix_http_server] file against cwd", () => {
  assert.equal(
    connect("[unix_http_server]\nfile = run/s.sock \n").serverUrl,
    "unix:///srv/app/run/s.sock",
  );
});

Deno.test("connectionFromSections() takes the first section whose name starts like the server's", () => {
  // supervisord's `_parse_servernames` matches sections by prefix: [unix_http_server:x] counts.
  assert.equal(
    connect("[unix_http_server:a]\nfile=/run/a.sock\n[unix_http_server]\nfile=/run/b.sock\n")
      .serverUrl,
    "unix:///run/a.sock",
  );
});

Deno.test("connectionFromSections() falls back to [inet_http_server] port in all its forms", () => {
  const cases: [string, string][] = [
    ["127.0.0.1:9001", "http://127.0.0.1:9001"],
    ["*:9001", "http://localhost:9001"],
    [":9001", "http://localhost:9001"],
    ["9001", "http://localhost:9001"],
    ["Example.COM:80", "http://example.com:80"],
    ["[::1]:9001", "http://[::1]:9001"],
    ["::1:9001", "http://[::1]:9001"],
    ["%(ENV_PORT)s", "http://localhost:9002"],
  ];
  for (const [port, expected] of cases) {
    const connection = connect(`[inet_http_server]\nport = ${port}\n`, {
      env: env({ PORT: "9002" }),
    });
    assert.deepEqual(connection, {
      serverUrl: expected,
      username: null,
      password: null,
      source: `[inet_http_server] in ${CONF}`,
    }, port);
  }
});

Deno.test("connectionFromSections() rejects an [inet_http_server] port that is not a port", () => {
  const cases: [string, string][] = [
    ["127.0.0.1:", "no port number after the colon"],
    ["http", '"http" is not a port number from 1 to 65535'],
    ["0", '"0" is not a port number from 1 to 65535'],
    ["65536", '"65536" is not a port number from 1 to 65535'],
  ];
  for (const [port, detail] of cases) {
    assertUsageError(
      () => connect(`[inet_http_server]\nport=${port}\n`),
      `Cannot read supervisord config "${CONF}": [inet_http_server] port: ${detail}`,
    );
  }
});

Deno.test("connectionFromSections() lets [supervisorctl] credentials win over the server's", () => {
  const files = new Map([
    ["supervisorctl", CONF],
    ["unix_http_server", "/etc/supervisor/conf.d/socket.conf"],
  ]);
  assert.deepEqual(
    connectionFromSections(
      parseIni(
        `[supervisorctl]\npassword=${PASSWORD}\n[unix_http_server]\nfile=/run/s.sock\n` +
          "username=u\npassword={SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d\n",
        CONF,
      ),
      HERE,
      CONF,
      { sectionFiles: files },
    ),
    {
      serverUrl: "unix:///run/s.sock",
      username: "u",
      password: PASSWORD,
      source: "[unix_http_server] in /etc/supervisor/conf.d/socket.conf, credentials from " +
        `[supervisorctl] in ${CONF}`,
    },
  );
});

Deno.test("connectionFromSections() refuses a {SHA} server password without printing it", () => {
  const hash = "{SHA}82ab876d1387bfafe46cc1c8a2ef074eae50cb1d";
  assert.throws(
    () => connect(`[inet_http_server]\nport=9001\nusername=u\npassword=${hash}\n`),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(
        error.message,
        `Cannot read supervisord config "${CONF}": the password in [inet_http_server] in ${CONF} ` +
          "is a {SHA} hash, which a client cannot send; give the password itself with " +
          "SUPERVISOR_PASSWORD or --password-file",
      );
      assert.ok(!error.message.includes("82ab876d"));
      return true;
    },
  );
});

Deno.test("connectionFromSections() sends a {SHA} [supervisorctl] password as written", () => {
  assert.equal(
    connect("[supervisorctl]\nserverurl=unix:///s\npassword={SHA}abc\n").password,
    "{SHA}abc",
  );
});

Deno.test("connectionFromSections() rejects half a server login, as supervisord does", () => {
  assertUsageError(
    () => connect(`[unix_http_server]\nfile=/s\npassword=${PASSWORD}\n`),
    `Cannot read supervisord config "${CONF}": [unix_http_server] in ${CONF} has a password ` +
      "but no username; supervisord needs both or neither",
  );
});

// ---- connectionFromSections: errors ------------------------------------------------------------

Deno.test("connectionFromSections() names the sections it looked for when there is no server", () => {
  for (const text of ["[supervisord]\n", "[supervisorctl]\nusername=u\n", ""]) {
    assertUsageError(
      () => connect(text),
      `Cannot read supervisord config "${CONF}": no [supervisorctl] serverurl, ` +
        "[unix_http_server] or [inet_http_server] section; name the server with serverurl= " +
        "in [supervisorctl]",
    );
  }
});

Deno.test("connectionFromSections() reports a server section without its address", () => {
  assertUsageError(
    () => connect("[unix_http_server]\nchmod=0700\n"),
    `Cannot read supervisord config "${CONF}": [unix_http_server] in ${CONF} has no file setting`,
  );
  assertUsageError(
    () => connect("[inet_http_server]\nusername=u\npassword=p\n"),
    `Cannot read supervisord config "${CONF}": [inet_http_server] in ${CONF} has no port setting`,
  );
});

Deno.test("connectionFromSections() explains a value it cannot expand, never quoting it", () => {
  assertUsageError(
    () => connect("[supervisorctl]\nserverurl=unix:///s\npassword=%(ENV_SECRET)s\n"),
    `Cannot read supervisord config "${CONF}": [supervisorctl] password: %(ENV_SECRET)s names ` +
      'environment variable "SECRET", which is not set (or releasemon is not allowed to read it)',
  );
  assertUsageError(
    () => connect(`[supervisorctl]\nserverurl=unix:///s\npassword=${PASSWORD}%\n`),
    `Cannot read supervisord config "${CONF}": [supervisorctl] password: bad "%" at character ` +
      `${PASSWORD.length + 1}; write %(name)s to insert a value and %% for a literal "%"`,
  );
  // Like supervisorctl, `here` is offered to serverurl and file, not to credentials.
  assertUsageError(
    () => connect("[supervisorctl]\nserverurl=unix:///s\nusername=%(here)s\n"),
    `Cannot read supervisord config "${CONF}": [supervisorctl] username: %(here)s cannot be ` +
      "expanded here",
  );
});

Deno.test("connectionFromSections() needs HOME for ~ and cwd for relative paths", () => {
  assertUsageError(
    () => connect("[supervisorctl]\nserverurl=unix://~/s.sock\n"),
    `Cannot read supervisord config "${CONF}": [supervisorctl] serverurl: the path starts ` +
      "with ~ but HOME is not set (or may not be read)",
  );
  assertUsageError(
    () => connect("[supervisorctl]\nserverurl=unix://~ops/s.sock\n"),
    `Cannot read supervisord config "${CONF}": [supervisorctl] serverurl: "~user" paths are ` +
      "not supported; write the path in full",
  );
  assertUsageError(
    () => connectionFromSections(parseIni("[unix_http_server]\nfile=s.sock\n", CONF), HERE, CONF),
    `Cannot read supervisord config "${CONF}": [unix_http_server] file: a relative path, and ` +
      "the current directory is unknown; make it absolute",
  );
});
