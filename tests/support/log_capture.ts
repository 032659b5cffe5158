/**
 * Captures releasemon's log records in memory while a test body runs, then resets the logger
 * core (`lib/logger.ts`), so tests can assert the exact lines an operator reads.
 *
 * @module
 */
import { configureLogger, type LogLevel, type LogRecord, resetLogger } from "../../lib/logger.ts";

/** Options for {@linkcode withLog}. */
export interface CaptureOptions {
  /** The least severe level captured. @default "debug" */
  lowestLevel?: LogLevel;
}

/** Runs `fn` with every record logged meanwhile (at `lowestLevel` or above), in order. */
export async function withLog(
  fn: (records: LogRecord[]) => Promise<void>,
  options: CaptureOptions = {},
): Promise<void> {
  const records: LogRecord[] = [];
  configureLogger({
    lowestLevel: options.lowestLevel ?? "debug",
    sink: (record) => records.push(record),
  });
  try {
    await fn(records);
  } finally {
    resetLogger();
  }
}
