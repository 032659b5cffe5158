// readConfConnection() on real files: [include] globs over conf.d, unreadable and invalid files,
// Deno permissions; and a cross-check against the real supervisorctl 4.2.5: for each config,
// the settings we read reach the same supervisord that `supervisorctl -c FILE` talks to.
import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import { createClient } from "../../lib/supervisor/client.ts";
import {
  type ConfConnection,
  MAX_INCLUDED_FILES,
  readConfConnection,
} from "../../lib/supervisor/conf_file.ts";
import { startSupervisord, type Supervisord } from "../support/supervisord.ts";

const CONF_FILE_MODULE = new URL("../../lib/supervisor/conf_file.ts", import.meta.url).href;
const DENO_JSON = new URL("../../deno.json", import.meta.url).pathname;
const SLEEPER = "sleep 3600";

/** A temp dir with files in it, removed at scope exit. */
class TempDir implements AsyncDisposable {
  constructor(readonly path: string) {}
  static async create(): Promise<TempDir> {
    return new TempDir(await Deno.makeTempDir({ dir: "/tmp", prefix: "rm-conf-" }));
  }
  async write(relative: string, content: string | Uint8Array): Promise<string> {
    const path = `${this.path}/${relative}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
    return path;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.path, { recursive: true });
  }
}

async function assertRejectsWith(promise: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UsageError, String(error));
    assert.equal(error.message, message);
    return true;
  });
}

type ReadResult = { ok: ConfConnection } | { error: string; message: string };

/**
 * Runs readConfConnection in a child Deno with the given permission flags (and cwd), optionally
 * without root's power to read any file, and returns what it gave.
 */
async function readInChild(
  path: string,
  options: { flags: string[]; cwd?: string; env?: Record<string, string>; unprivileged?: boolean },
): Promise<ReadResult> {
  const script = `
    import { readConfConnection } from ${JSON.stringify(CONF_FILE_MODULE)};
    let result;
    try {
      result = { ok: await readConfConnection(Deno.args[0]) };
    } catch (error) {
      result = { error: error.name, message: error.message };
    }
    await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(result)));
  `;
  const deno = [Deno.execPath(), "run", "--quiet", "--frozen", "--config", DENO_JSON];
  const argv = [...deno, ...options.flags, "-", path];
  // Root reads any file; without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH it obeys file modes.
  const command = options.unprivileged
    ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", ...argv]
    : argv;
  const child = new Deno.Command(command[0] ?? "", {
    args: command.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const output = await child.output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.ok(output.success, `child failed: ${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(stdout);
}

const CAN_DROP_ROOT_READ = Deno.uid() === 0 && (() => {
  try {
    return new Deno.Command("setpriv", { args: ["--version"] }).outputSync().success;
  } catch {
    return false;
  }
})();

// ---- real files -----------------------------------------------------------------------------

Deno.test("readConfConnection() reads a config and its conf.d includes", async (t) => {
  await using dir = await TempDir.create();
  const main = `${dir.path}/supervisord.conf`;

  await t.step("includes are read in sorted order; later values win", async () => {
    await dir.write(
      "supervisord.conf",
      "[include]\nfiles = conf.d/*.conf\n[supervisorctl]\nusername = admin\n",
    );
    await dir.write(
      "conf.d/20-auth.conf",
      "[unix_http_server]\nusername = sv\npassword = second\n",
    );
    await dir.write(
      "conf.d/10-socket.conf",
      "[unix_http_server]\nfile = %(here)s/s.sock\nusername = sv\npassword = first\n",
    );
    await dir.write("conf.d/.hidden.conf", "[unix_http_server]\nfile = /wrong.sock\n");
    await dir.write("conf.d/notes.txt", "not a config");
    await Deno.mkdir(`${dir.path}/conf.d/dir.conf`);
    assert.deepEqual(await readConfConnection(main), {
      // `%(here)s` in an included file is that file's directory, as supervisord expands it.
      serverUrl: `unix://${dir.path}/conf.d/s.sock`,
      username: "admin",
      password: "second",
      source: `[unix_http_server] in ${dir.path}/conf.d/20-auth.conf, credentials from ` +
        `[supervisorctl] in ${main}`,
    });
  });

  await t.step("a pattern matching nothing is skipped, as supervisord does", async () => {
    await dir.write(
      "supervisord.conf",
      "[include]\nfiles = missing/*.conf nothing-*.conf\n  conf.d/1?-socket.conf\n",
    );
    assert.equal((await readConfConnection(main)).serverUrl, `unix://${dir.path}/conf.d/s.sock`);
    await dir.write("supervisord.conf", "[include]\nfiles = missing/*.conf\n");
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot read supervisord config "${main}": no [supervisorctl] serverurl, ` +
        "[unix_http_server] or [inet_http_server] section; name the server with serverurl= " +
        "in [supervisorctl]",
    );
  });

  await t.step("includes are not recursive", async () => {
    await dir.write("supervisord.conf", "[include]\nfiles = nested/outer.conf\n");
    await dir.write("nested/outer.conf", "[include]\nfiles = inner.conf\n");
    await dir.write("nested/inner.conf", "[inet_http_server]\nport = 9001\n");
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot read supervisord config "${main}": no [supervisorctl] serverurl, ` +
        "[unix_http_server] or [inet_http_server] section; name the server with serverurl= " +
        "in [supervisorctl]",
    );
  });

  await t.step("absolute patterns, %(here)s and wildcards in directory names", async () => {
    await dir.write(
      "supervisord.conf",
      `[include]\nfiles = ${dir.path}/c[o]nf.?/10-*.conf %(here)s/*.d/2*.conf\n`,
    );
    const connection = await readConfConnection(main);
    assert.equal(connection.serverUrl, `unix://${dir.path}/conf.d/s.sock`);
    assert.equal(connection.password, "second");
  });

  await t.step("%(host_node_name)s in [include] files is the host name", async () => {
    await dir.write("supervisord.conf", "[include]\nfiles = hosts/%(host_node_name)s.conf\n");
    await dir.write(`hosts/${Deno.hostname()}.conf`, "[inet_http_server]\nport = 9009\n");
    assert.equal((await readConfConnection(main)).serverUrl, "http://localhost:9009");
  });

  await t.step("%(ENV_X)s comes from the environment", async () => {
    await dir.write(
      "supervisord.conf",
      "[supervisorctl]\nserverurl = unix://%(ENV_RM_CONF_DIR)s/s.sock\n",
    );
    Deno.env.set("RM_CONF_DIR", "/run/app");
    try {
      assert.equal((await readConfConnection(main)).serverUrl, "unix:///run/app/s.sock");
    } finally {
      Deno.env.delete("RM_CONF_DIR");
    }
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot read supervisord config "${main}": [supervisorctl] serverurl: %(ENV_RM_CONF_DIR)s ` +
        'names environment variable "RM_CONF_DIR", which is not set (or releasemon is not ' +
        "allowed to read it)",
    );
  });

  await t.step("an [include] with no files setting is an error, as in supervisord", async () => {
    await dir.write("supervisord.conf", "[include]\n[inet_http_server]\nport=9001\n");
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot read supervisord config "${main}": it has an [include] section but no files setting`,
    );
  });

  await t.step("a syntax error in an included file names that file and line", async () => {
    await dir.write("supervisord.conf", "[include]\nfiles = broken.conf\n");
    await dir.write("broken.conf", "[unix_http_server]\nfile /run/s.sock\n");
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot parse supervisord config "${dir.path}/broken.conf": line 2: expected a [section] ` +
        'header or a "name = value" setting',
    );
  });

  await t.step(`more than ${MAX_INCLUDED_FILES} included files is an error`, async () => {
    for (let i = 0; i <= MAX_INCLUDED_FILES; i++) {
      await dir.write(`many/${String(i).padStart(3, "0")}.conf`, "[program:x]\n");
    }
    await dir.write("supervisord.conf", "[include]\nfiles = many/*.conf\n");
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot read supervisord config "${main}": [include] files matches more than ` +
        `${MAX_INCLUDED_FILES} files`,
    );
  });
});

Deno.test("readConfConnection() explains a config it cannot read", async (t) => {
  await using dir = await TempDir.create();

  await t.step("a missing file", async () => {
    await assertRejectsWith(
      readConfConnection(`${dir.path}/nope.conf`),
      `Cannot read supervisord config "${dir.path}/nope.conf": no such file`,
    );
  });

  await t.step("a directory", async () => {
    await assertRejectsWith(
      readConfConnection(dir.path),
      `Cannot read supervisord config "${dir.path}": it is a directory`,
    );
  });

  await t.step("a file over 1 MiB", async () => {
    const path = await dir.write("big.conf", "[s]\n" + ";".repeat(1024 * 1024) + "\n");
    await assertRejectsWith(
      readConfConnection(path),
      `Cannot read supervisord config "${path}": it is larger than 1 MiB`,
    );
  });

  await t.step("a file that is not UTF-8", async () => {
    const path = await dir.write("latin1.conf", new Uint8Array([0x5b, 0x73, 0x5d, 0x0a, 0xe9]));
    await assertRejectsWith(
      readConfConnection(path),
      `Cannot read supervisord config "${path}": it is not valid UTF-8`,
    );
  });

  await t.step("an included file that is unreadable", async () => {
    const main = await dir.write("inc.conf", "[include]\nfiles = big.conf\n");
    await assertRejectsWith(
      readConfConnection(main),
      `Cannot read supervisord config "${main}": included file "${dir.path}/big.conf": it is ` +
        "larger than 1 MiB",
    );
  });

  await t.step({
    name: "a file its mode forbids reading (permission denied)",
    ignore: !CAN_DROP_ROOT_READ,
    fn: async () => {
      const path = await dir.write("secret.conf", "[inet_http_server]\nport=9001\n");
      await Deno.chmod(path, 0o000);
      assert.deepEqual(
        await readInChild(path, { flags: ["--allow-read", "--allow-env"], unprivileged: true }),
        {
          error: "UsageError",
          message: `Cannot read supervisord config "${path}": permission denied`,
        },
      );
    },
  });

  await t.step({
    name: "an included file or include directory its mode forbids reading",
    ignore: !CAN_DROP_ROOT_READ,
    fn: async () => {
      // supervisord would skip both silently; releasemon cannot know what they say.
      const main = await dir.write("locked.conf", "[include]\nfiles = secret.conf\n");
      assert.deepEqual(
        await readInChild(main, { flags: ["--allow-read", "--allow-env"], unprivileged: true }),
        {
          error: "UsageError",
          message: `Cannot read supervisord config "${main}": included file ` +
            `"${dir.path}/secret.conf": permission denied`,
        },
      );
      await dir.write("locked.d/a.conf", "[inet_http_server]\nport=9001\n");
      await Deno.chmod(`${dir.path}/locked.d`, 0o000);
      await dir.write("locked.conf", "[include]\nfiles = locked.d/*.conf\n");
      assert.deepEqual(
        await readInChild(main, { flags: ["--allow-read", "--allow-env"], unprivileged: true }),
        {
          error: "UsageError",
          message: `Cannot read supervisord config "${main}": cannot list ` +
            `"${dir.path}/locked.d" for [include]: permission denied`,
        },
      );
    },
  });

  await t.step("a file Deno's --allow-read does not cover", async () => {
    const path = await dir.write("elsewhere.conf", "[inet_http_server]\nport=9001\n");
    assert.deepEqual(
      await readInChild(path, { flags: [`--allow-read=${dir.path}/other`] }),
      {
        error: "UsageError",
        message: `Cannot read supervisord config "${path}": releasemon is not allowed to read ` +
          "it (Deno --allow-read)",
      },
    );
  });
});

Deno.test("readConfConnection() under limited Deno permissions", async (t) => {
  await using dir = await TempDir.create();
  const main = await dir.write(
    "supervisord.conf",
    "[supervisorctl]\nserverurl = unix://run/s.sock\npassword = %(ENV_RM_SECRET)s\n",
  );
  const env = { RM_SECRET: "hunter2" };

  await t.step("a variable it may read expands; a relative socket is against cwd", async () => {
    assert.deepEqual(
      await readInChild("supervisord.conf", {
        flags: ["--allow-read", "--allow-env=RM_SECRET"],
        cwd: dir.path,
        env,
      }),
      {
        ok: {
          serverUrl: `unix://${dir.path}/run/s.sock`,
          username: null,
          password: "hunter2",
          source: "[supervisorctl] in supervisord.conf",
        },
      },
    );
  });

  await t.step("a variable it may not read counts as unset", async () => {
    assert.deepEqual(
      await readInChild(main, { flags: ["--allow-read", "--allow-env=HOME"], env }),
      {
        error: "UsageError",
        message: `Cannot read supervisord config "${main}": [supervisorctl] password: ` +
          '%(ENV_RM_SECRET)s names environment variable "RM_SECRET", which is not set (or ' +
          "releasemon is not allowed to read it)",
      },
    );
  });
});

// ---- cross-check against supervisorctl ------------------------------------------------------

const SUPERVISORD_SECTIONS = `
[supervisord]
logfile = %(here)s/supervisord.log
pidfile = %(here)s/supervisord.pid
childlogdir = %(here)s
nodaemon = true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
`;

function program(name: string): string {
  return `[program:${name}]\ncommand = ${SLEEPER}\nstartsecs = 0\nstopwaitsecs = 5\n` +
    "stopasgroup = true\nkillasgroup = true\n";
}

interface CrossCheck {
  name: string;
  /** The one program this supervisord runs, so `status` output tells the servers apart. */
  program: string;
  auth?: { username: string; password: string };
  inet?: boolean;
  /** Environment of supervisord, supervisorctl and readConfConnection. */
  env?: Record<string, string>;
  /** Run supervisorctl and readConfConnection in the config's directory, with a relative path. */
  relative?: boolean;
  /** supervisord.conf and any other files, given the server's dir and inet port. */
  files: (sv: Supervisord) => Record<string, string>;
  expectedUrl: (sv: Supervisord) => string;
}

const CROSS_CHECKS: CrossCheck[] = [
  {
    name: "plain unix socket, %(here)s",
    program: "plain_prog",
    files: () => ({
      "supervisord.conf": `[unix_http_server]\nfile = %(here)s/s.sock\n\n[supervisorctl]\n` +
        `serverurl = unix://%(here)s/s.sock\n${SUPERVISORD_SECTIONS}\n${program("plain_prog")}`,
    }),
    expectedUrl: (sv) => sv.unixUrl,
  },
  {
    name: "server section in conf.d, auth, ':' and inline comments",
    program: "included_prog",
    auth: { username: "admin", password: "pa#ss;word" },
    files: () => ({
      "supervisord.conf": "; cross-check: includes, credentials, INI quirks\n[include]\n" +
        "files = conf.d/*.conf\n\n[supervisorctl]\nSERVERURL : unix://%(here)s/conf.d/../s.sock" +
        "   ; normalised\nUsername = admin\npassword = pa#ss;word ; the # and ; inside stay\n" +
        SUPERVISORD_SECTIONS,
      // supervisord expands %(here)s here to conf.d: the socket is ../s.sock from there.
      "conf.d/10-server.conf": "[unix_http_server]\nfile = %(here)s/../s.sock\n" +
        "username = admin\npassword = pa#ss;word\n",
      "conf.d/20-program.conf": program("included_prog"),
    }),
    expectedUrl: (sv) => sv.unixUrl,
  },
  {
    name: "inet_http_server over TCP, credentials from %(ENV_X)s",
    program: "inet_prog",
    auth: { username: "envuser", password: "env pass" },
    inet: true,
    env: { RM_XC_HOST: "127.0.0.1", RM_XC_USER: "envuser", RM_XC_PASS: "env pass" },
    files: (sv) => ({
      "supervisord.conf": "[unix_http_server]\nfile = %(here)s/s.sock\n" +
        "username = %(ENV_RM_XC_USER)s\npassword = %(ENV_RM_XC_PASS)s\n\n[inet_http_server]\n" +
        `port = %(ENV_RM_XC_HOST)s:${sv.inetPort}\nusername = %(ENV_RM_XC_USER)s\n` +
        "password = %(ENV_RM_XC_PASS)s\n\n[supervisorctl]\n" +
        `serverurl = http://%(ENV_RM_XC_HOST)s:${sv.inetPort}\nusername = %(ENV_RM_XC_USER)s\n` +
        `password = %(ENV_RM_XC_PASS)s\n${SUPERVISORD_SECTIONS}\n${program("inet_prog")}`,
    }),
    expectedUrl: (sv) => sv.inetUrl ?? "",
  },
  {
    name: "relative unix:// path, resolved against the current directory",
    program: "relative_prog",
    relative: true,
    files: () => ({
      "supervisord.conf": "[unix_http_server]\nfile = %(here)s/s.sock\n\n[supervisorctl]\n" +
        `serverurl = unix://s.sock\n${SUPERVISORD_SECTIONS}\n${program("relative_prog")}`,
    }),
    expectedUrl: (sv) => sv.unixUrl,
  },
  {
    name: "repeated sections, multi-line [include] files",
    program: "dup_prog",
    files: () => ({
      "supervisord.conf": "[supervisorctl]\nserverurl = unix:///nonexistent/s.sock\n" +
        "[unix_http_server]\nfile = %(here)s/s.sock\n[include]\nfiles = nothing/*.conf\n" +
        "\tprograms/*.ini\n[supervisorctl]\nserverurl = unix://%(here)s//s.sock\n" +
        SUPERVISORD_SECTIONS,
      "programs/dup.ini": program("dup_prog"),
    }),
    expectedUrl: (sv) => sv.unixUrl,
  },
];

async function supervisorctl(
  sv: Supervisord,
  check: CrossCheck,
  ...args: string[]
): Promise<string> {
  const output = await new Deno.Command("supervisorctl", {
    args: ["-c", check.relative ? "supervisord.conf" : sv.configPath, ...args],
    cwd: sv.dir,
    env: check.env ?? {},
    stdin: "null",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

async function readFor(sv: Supervisord, check: CrossCheck): Promise<ConfConnection> {
  if (check.relative) {
    const result = await readInChild("supervisord.conf", {
      flags: ["--allow-read", "--allow-env"],
      cwd: sv.dir,
    });
    assert.ok("ok" in result, JSON.stringify(result));
    return result.ok;
  }
  const env = Object.entries(check.env ?? {});
  for (const [name, value] of env) Deno.env.set(name, value);
  try {
    return await readConfConnection(sv.configPath);
  } finally {
    for (const [name] of env) Deno.env.delete(name);
  }
}

Deno.test("readConfConnection() reaches the supervisord that supervisorctl -c FILE talks to", async (t) => {
  for (const check of CROSS_CHECKS) {
    await t.step(check.name, async () => {
      await using sv = await startSupervisord({
        deferStart: true,
        ...(check.auth ? { auth: check.auth } : {}),
        ...(check.inet ? { inet: true } : {}),
        ...(check.env ? { env: check.env } : {}),
      });
      // startSupervisord wrote its own config; replace it (same dir, socket and port).
      for (const [relative, content] of Object.entries(check.files(sv))) {
        await sv.writeFile(relative, content);
      }
      await sv.start();

      const status = await supervisorctl(sv, check, "status");
      assert.match(status, new RegExp(`^${check.program}\\s+RUNNING`, "m"), status);
      const ctlPid = Number((await supervisorctl(sv, check, "pid")).trim());
      assert.equal(ctlPid, sv.pid);

      const connection = await readFor(sv, check);
      assert.equal(connection.serverUrl, check.expectedUrl(sv));
      const client = createClient({ ...connection, timeoutMs: 10_000 });
      assert.deepEqual(await client.getState(), { code: 1, name: "RUNNING" });
      assert.equal(await client.call("supervisor.getPID"), ctlPid);
      const names = (await client.getAllProcessInfo()).map((info) => info.name);
      assert.deepEqual(names, [check.program]);
    });
  }
});

// ---- releasemon's fallbacks (supervisorctl would try http://localhost:9001) ---------------

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("readConfConnection() falls back to the server sections of a running supervisord", async (t) => {
  await t.step("[unix_http_server] from conf.d, no [supervisorctl] at all", async () => {
    await using sv = await startSupervisord({
      deferStart: true,
      auth: { username: "sv", password: "from-server" },
    });
    await sv.writeFile(
      "supervisord.conf",
      `[include]\nfiles = conf.d/*.conf\n${SUPERVISORD_SECTIONS}\n${program("fallback_prog")}`,
    );
    await sv.writeFile(
      "conf.d/server.conf",
      "[unix_http_server]\nfile = %(here)s/../s.sock\nusername = sv\npassword = from-server\n",
    );
    await sv.start();
    const connection = await readConfConnection(sv.configPath);
    assert.deepEqual(connection, {
      serverUrl: sv.unixUrl,
      username: "sv",
      password: "from-server",
      source: `[unix_http_server] in ${sv.dir}/conf.d/server.conf`,
    });
    assert.equal(await createClient(connection).call("supervisor.getPID"), sv.pid);
  });

  await t.step(
    "[inet_http_server] *:port with a {SHA} password and [supervisorctl]'s",
    async () => {
      await using sv = await startSupervisord({
        deferStart: true,
        inet: true,
        auth: { username: "admin", password: "plain-pw" },
      });
      const inet = `[inet_http_server]\nport = *:${sv.inetPort}\nusername = admin\n` +
        `password = {SHA}${await sha1Hex("plain-pw")}\n`;
      await sv.writeFile(
        "supervisord.conf",
        "[unix_http_server]\nfile = %(here)s/s.sock\nusername = admin\npassword = plain-pw\n" +
          `[include]\nfiles = inet.conf\n${SUPERVISORD_SECTIONS}`,
      );
      await sv.writeFile("inet.conf", inet);
      // A second main file that only knows the inet server: releasemon's view of it.
      const other = await sv.writeFile(
        "client.conf",
        "[include]\nfiles = inet.conf\n[supervisorctl]\npassword = plain-pw\n",
      );
      await sv.start();
      const connection = await readConfConnection(other);
      assert.deepEqual(connection, {
        serverUrl: `http://localhost:${sv.inetPort}`,
        username: "admin",
        password: "plain-pw",
        source: `[inet_http_server] in ${sv.dir}/inet.conf, credentials from [supervisorctl] in ` +
          other,
      });
      assert.equal(await createClient(connection).call("supervisor.getPID"), sv.pid);
      // Without [supervisorctl]'s password, the hash is useless to a client: a clear error.
      await sv.writeFile("client.conf", "[include]\nfiles = inet.conf\n");
      await assertRejectsWith(
        readConfConnection(other),
        `Cannot read supervisord config "${other}": the password in [inet_http_server] in ` +
          `${sv.dir}/inet.conf is a {SHA} hash, which a client cannot send; give the password ` +
          "itself with SUPERVISOR_PASSWORD or --password-file",
      );
    },
  );
});
