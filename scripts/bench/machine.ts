/**
 * The machine a run measured: CPU, cores, memory, kernel, Deno, supervisord, and the load
 * average (other work on the machine moves every figure).
 *
 * @module
 */

export interface Machine {
  cpuModel: string;
  cores: number;
  memTotalMiB: number;
  kernel: string;
  deno: string;
  v8: string;
  typescript: string;
  supervisord: string;
  python: string;
  loadAverage: number[];
  /** Median ms of one fork+exec+wait of /bin/true from a Python process of supervisord's size. */
  spawnMs: number;
}

/**
 * supervisord forks itself for every program it starts, so the machine's fork cost is in every
 * restart: a Python process with ~30 MB touched (supervisord's RSS) forks and execs /bin/true 20
 * times; the median in ms.
 */
const SPAWN_PROBE_PY = `import os, time
ballast = bytearray(24 << 20)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
times = []
for _ in range(20):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/true", ["true"])
    os.waitpid(pid, 0)
    times.append((time.perf_counter() - start) * 1000)
times.sort()
print(times[len(times) // 2])
`;

async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout).trim() ||
      new TextDecoder().decode(out.stderr).trim();
    return out.success ? text : `unknown (${command} exited with ${out.code})`;
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`;
  }
}

export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const models = [...cpuinfo.matchAll(/^model name\s*:\s*(.+)$/gm)].map((m) => m[1]!.trim());
  const processors = [...cpuinfo.matchAll(/^processor\s*:/gm)].length;
  return {
    cpuModel: models[0] ?? "unknown",
    cores: processors || navigator.hardwareConcurrency,
    memTotalMiB: Math.round(Number(meminfo.match(/^MemTotal:\s+(\d+) kB/m)?.[1] ?? 0) / 1024),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    supervisord: await commandOutput("supervisord", ["--version"]),
    python: await commandOutput("/usr/bin/python3", ["--version"]),
    loadAverage: Deno.loadavg(),
    spawnMs: Number(await commandOutput("/usr/bin/python3", ["-I", "-S", "-c", SPAWN_PROBE_PY])),
  };
}

export function machineLines(machine: Machine): string[] {
  return [
    `CPU: ${machine.cpuModel}, ${machine.cores} cores; ${machine.memTotalMiB} MiB RAM; ` +
    `Linux ${machine.kernel}`,
    `Deno ${machine.deno} (V8 ${machine.v8}, TypeScript ${machine.typescript}); ` +
    `supervisord ${machine.supervisord}; ${machine.python} (supervisord's and the trap's)`,
    `Load average at start: ${machine.loadAverage.map((l) => l.toFixed(2)).join(", ")}; ` +
    `one fork+exec from a supervisord-sized Python process: ${machine.spawnMs.toFixed(1)} ms ` +
    "(median of 20; supervisord pays it for every program it starts)",
  ];
}
