/**
 * The runtime's own floor for footprint: a `deno run` that only holds one `Deno.watchFs` on the
 * directory given as its argument, and does nothing else.
 *
 * @module
 */
const watcher = Deno.watchFs(Deno.args[0] ?? ".");
for await (const _event of watcher) {
  // Idle: events are read and dropped.
}
