/** Stopping a server process a test started: SIGTERM, await its exit, SIGKILL after `graceMs`. */
export async function terminate(child: Deno.ChildProcess, graceMs: number): Promise<void> {
  const send = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  send("SIGTERM");
  const killer = setTimeout(() => send("SIGKILL"), graceMs);
  try {
    await child.status;
  } finally {
    clearTimeout(killer);
  }
}
