/**
 * releasemon's logger core: loggers named by category, five levels, and one process-wide sink
 * with a lowest level. Each module logs through `getLogger(["releasemon", "<module>"])`;
 * `log.ts` turns records into lines and is the only production caller of
 * {@linkcode configureLogger}.
 *
 * - Before {@linkcode configureLogger} (and after {@linkcode resetLogger}) every record is dropped.
 * - A call below the lowest level returns before any record is built.
 * - A record carries the message template as written and the caller's properties, values
 *   untouched (copied shallowly, so later changes to the caller's object do not reach it).
 * - Logging never throws into the code that logged. When the sink throws, the record is lost and
 *   the sink is handed one error record in its place (category `releasemon.log`) naming the lost
 *   record's category, level and template and what was thrown; when that throws as well, both
 *   are dropped. A record logged from inside the sink is dropped, so a sink cannot loop.
 *
 * @module
 */

/** The levels, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "fatal"] as const;

/** A record's severity. */
export type LogLevel = typeof LOG_LEVELS[number];

/** One logged event, as the sink receives it. */
export interface LogRecord {
  /** The logger's category, e.g. `["releasemon", "watch"]`. */
  readonly category: readonly string[];
  readonly level: LogLevel;
  /** The message template as written; `{name}` refers to a property. */
  readonly rawMessage: string;
  /** The caller's properties, values as passed. */
  readonly properties: Readonly<Record<string, unknown>>;
  /** When it was logged, in milliseconds since the epoch. */
  readonly timestamp: number;
}

/** Receives every record at or above the lowest level. */
export type Sink = (record: LogRecord) => void;

/** Options for {@linkcode configureLogger}. */
export interface LoggerConfig {
  sink: Sink;
  /** The least severe level handed to the sink. */
  lowestLevel: LogLevel;
}

/** Logs under one category. `warn` is `warning` by a shorter name. */
export interface Logger {
  readonly category: readonly string[];
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  warning(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
  fatal(message: string, properties?: Record<string, unknown>): void;
}

/** Where a record the sink could not take is reported. */
const SINK_FAILURE_CATEGORY: readonly string[] = Object.freeze(["releasemon", "log"]);
const SINK_FAILURE_MESSAGE = "Cannot write a log record of {category}: {error}";
const RANK: Readonly<Record<LogLevel, number>> = {
  debug: 0,
  info: 1,
  warning: 2,
  error: 3,
  fatal: 4,
};

let active: { sink: Sink; lowestRank: number } | undefined;
/** True while the sink runs: what it logs itself is dropped. */
let inSink = false;

/**
 * Sends every record at `lowestLevel` or above to `sink` from now on, replacing any earlier
 * configuration. Throws RangeError for an unknown level.
 */
export function configureLogger(config: LoggerConfig): void {
  if (!Object.hasOwn(RANK, config.lowestLevel)) {
    throw new RangeError(
      `Cannot configure logging: unknown level "${String(config.lowestLevel)}"; ` +
        `use one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  active = { sink: config.sink, lowestRank: RANK[config.lowestLevel] };
}

/** Drops every record from now on, as before {@linkcode configureLogger}. */
export function resetLogger(): void {
  active = undefined;
}

/** A logger for `category` (copied, so later changes to the array do not reach it). */
export function getLogger(category: readonly string[]): Logger {
  const fixed = Object.freeze([...category]);
  const at = (level: LogLevel) => (message: string, properties?: Record<string, unknown>) =>
    _log(fixed, level, message, properties);
  return {
    category: fixed,
    debug: at("debug"),
    info: at("info"),
    warn: at("warning"),
    warning: at("warning"),
    error: at("error"),
    fatal: at("fatal"),
  };
}

function _log(
  category: readonly string[],
  level: LogLevel,
  rawMessage: string,
  properties: Record<string, unknown> | undefined,
): void {
  const current = active;
  if (current === undefined || RANK[level] < current.lowestRank || inSink) return;
  inSink = true;
  try {
    try {
      const copy = { ...properties };
      current.sink({ category, level, rawMessage, properties: copy, timestamp: Date.now() });
    } catch (error) {
      if (RANK.error < current.lowestRank) return;
      current.sink({
        category: SINK_FAILURE_CATEGORY,
        level: "error",
        rawMessage: SINK_FAILURE_MESSAGE,
        properties: { category: category.join("."), level, template: rawMessage, error },
        timestamp: Date.now(),
      });
    }
  } catch {
    // The sink fails even on the report of its failure: there is nowhere left to tell.
  } finally {
    inSink = false;
  }
}
