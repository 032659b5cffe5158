/**
 * A second floor for footprint: {@link ./idle_floor.ts}'s idle `deno run` holding one
 * `Deno.watchFs`, plus one use of each runtime API releasemon's idle process has used by the time
 * it watches: a signal listener, a timer, a file stat, open and read, an attempt to connect to a
 * unix socket, the environment, random bytes, a date in ISO form, text decoding and a write to
 * stderr. Each pulls more of the deno binary's code into memory; none of it is releasemon's.
 *
 * @module
 */
const dir = Deno.args[0] ?? ".";
const watcher = Deno.watchFs(dir);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
setTimeout(() => {}, 1);
await Deno.writeTextFile(`${dir}/.api-floor`, "x");
await Deno.stat(`${dir}/.api-floor`);
const file = await Deno.open(`${dir}/.api-floor`);
await file.read(new Uint8Array(16));
file.close();
await Deno.connect({ transport: "unix", path: `${dir}/.no-such-socket` }).catch(() => null);
Deno.env.get("NO_COLOR");
crypto.getRandomValues(new Uint8Array(4));
new TextDecoder().decode(new TextEncoder().encode(new Date().toISOString()));
Deno.stderr.writeSync(new Uint8Array(0));
for await (const _event of watcher) {
  // Idle: events are read and dropped.
}
