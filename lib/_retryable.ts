/**
 * How the loop judges a step's error: whether time (or a person fixing supervisord) can cure it,
 * and its text for a log line or an event.
 *
 * @module
 */
import {
  HttpProtocolError,
  SupervisorAuthError,
  SupervisorFault,
  SupervisorUnavailableError,
  XmlRpcSyntaxError,
} from "./errors.ts";

/** Errors that time (or a person fixing supervisord) can cure: keep the version and retry. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof SupervisorUnavailableError) return true;
  if (error instanceof SupervisorAuthError) return true;
  if (error instanceof SupervisorFault) return error.faultName === "SHUTDOWN_STATE";
  return error instanceof HttpProtocolError || error instanceof XmlRpcSyntaxError;
}

/**
 * Retryable errors that only a person can cure (the socket's chmod/chown, a changed password):
 * logged as errors, still retried.
 */
export function needsPerson(error: unknown): boolean {
  if (error instanceof SupervisorAuthError) return true;
  return error instanceof SupervisorUnavailableError && error.reason === "permission-denied";
}

/** An error's message, or the thrown value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether to log retry number `attempt` (1-based): the first three, then every 10th, so an outage does not flood. */
export function loggedAttempt(attempt: number): boolean {
  return attempt <= 3 || attempt % 10 === 0;
}
