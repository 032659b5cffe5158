/**
 * `deno task compile [--socket PATH]... [--net HOST]... [--target TRIPLE] [--output FILE]`
 *
 * Builds the single releasemon binary with the least-privilege permission list from
 * `scripts/permissions.ts`. `deno compile` needs Deno's runtime base (`denort`), downloaded from
 * dl.deno.land unless `DENORT_BIN` points at a local copy; where neither works this fails with a
 * message saying so. It never produces a stand-in binary.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_NET_HOSTS, DEFAULT_SOCKETS, permissionFlags } from "./permissions.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    socket: { type: "string", multiple: true },
    net: { type: "string", multiple: true },
    target: { type: "string" },
    output: { type: "string", default: "dist/releasemon" },
  },
});

const flags = permissionFlags({
  sockets: values.socket ?? DEFAULT_SOCKETS,
  netHosts: values.net ?? DEFAULT_NET_HOSTS,
}).filter((flag) => flag !== "--no-prompt"); // compiled binaries never prompt
const args = [
  "compile",
  "--frozen",
  "--output",
  values.output,
  ...(values.target ? ["--target", values.target] : []),
  ...flags,
  "main.ts",
];
const write = (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text + "\n"));
write(`deno ${args.join(" ")}`);
const result = await new Deno.Command("deno", { args, stdout: "inherit", stderr: "piped" })
  .output();
const stderr = new TextDecoder().decode(result.stderr);
Deno.stderr.writeSync(result.stderr);
if (!result.success) {
  if (/dl\.deno\.land|denort|error sending request|dns error/i.test(stderr)) {
    write(
      "\ncompile failed: deno compile needs its runtime base (denort) and could not download it " +
        "from dl.deno.land (no network access here). Either run this where dl.deno.land is " +
        "reachable, or download denort-<target>.zip for Deno 2.9.6 elsewhere, unzip it and set " +
        "DENORT_BIN=/path/to/denort. No binary was produced.",
    );
  } else {
    write("\ncompile failed; no binary was produced.");
  }
  Deno.exit(1);
}
write(`built ${values.output}`);
