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

/** An error's message, or the thrown value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
