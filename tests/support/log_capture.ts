/**
 * Captures releasemon's log records (debug and up) in memory while a test body runs, then resets
 * LogTape, so tests can assert the exact lines an operator reads.
 *
 * @module
 */
import { configure, type LogRecord, reset } from "@logtape/logtape";

/** Runs `fn` with every record logged under ["releasemon"] meanwhile, in order. */
export async function withLog(fn: (records: LogRecord[]) => Promise<void>): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { test: (record) => records.push(record) },
    loggers: [
      { category: ["releasemon"], sinks: ["test"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  try {
    await fn(records);
  } finally {
    await reset();
  }
}
