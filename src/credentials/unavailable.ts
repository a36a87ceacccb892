/**
 * Builds the "move on" error of a link with a one-line `reason` that the
 * chain puts in its report (e.g. `az not found on PATH`), separate from the
 * longer user-facing message.
 *
 * @example
 * ```ts
 * throw unavailable("AzureCliCredential", "az not found on PATH", "Install the Azure CLI and run 'az login'.");
 * ```
 */
import { CredentialUnavailableError } from "../errors";
import { redact } from "./lazyLog";

/** A `CredentialUnavailableError` whose `reason` is one line for diagnostics. */
export type ReasonedUnavailableError = CredentialUnavailableError & { reason: string };

export function unavailable(credential: string, reason: string, hint?: string, cause?: unknown): ReasonedUnavailableError {
  const error = new CredentialUnavailableError(unavailableMessage(credential, reason, hint), cause === undefined ? {} : { cause });
  return Object.assign(error, { reason: redact(reason) });
}

/** The message of {@link unavailable}'s error, redacted (also logged where no error is built). */
export function unavailableMessage(credential: string, reason: string, hint?: string): string {
  return redact(`${credential} is unavailable: ${reason}.${hint ? ` ${hint}` : ""}`);
}

/** The one-line reason of any error: its `reason` when it has one, else its first message line. */
export function reasonOf(error: unknown): string {
  const own = (error as { reason?: unknown } | null)?.reason;
  if (typeof own === "string" && own.length > 0) return own;
  const message = error instanceof Error ? error.message : String(error);
  // Redacted before it is cut: a secret cut in half is no longer recognised.
  const line = redact(message.split("\n", 1)[0]!.trim());
  return line.length > REASON_CHARS ? `${line.slice(0, REASON_CHARS - 3)}...` : line;
}

/**
 * A report's one-line reason is cut here: long enough for a managed-identity
 * message with its quote and its advice (the advice comes last), short
 * enough for one line of a report.
 */
export const REASON_CHARS = 500;
