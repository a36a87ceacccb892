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
  OWN_REASONS.add(error);
  return Object.assign(error, { reason: redact(reason) });
}

/** Errors whose `reason` this module wrote (redacted, one line): reasonOf takes those as they are. */
const OWN_REASONS = new WeakSet<object>();

/** The message of {@link unavailable}'s error, redacted (also logged where no error is built). */
export function unavailableMessage(credential: string, reason: string, hint?: string): string {
  return redact(`${credential} is unavailable: ${reason}.${hint ? ` ${hint}` : ""}`);
}

/**
 * The one-line reason of any error: its `reason` when it has one, else its
 * first message line. A `reason` another credential set is redacted and cut
 * like a message: only {@link unavailable}'s are known to be clean already.
 */
export function reasonOf(error: unknown): string {
  const own = (error as { reason?: unknown } | null)?.reason;
  const hasReason = typeof own === "string" && own.length > 0;
  if (hasReason && OWN_REASONS.has(error as object)) return own;
  const text = hasReason ? own : error instanceof Error ? error.message : String(error);
  // Redacted before it is cut: a secret cut in half is no longer recognised.
  const line = redact(text.split("\n", 1)[0]!.trim());
  return line.length > REASON_CHARS ? `${line.slice(0, REASON_CHARS - 3)}...` : line;
}

/**
 * A report's one-line reason is cut here: long enough for a managed-identity
 * message with its quote and its advice (the advice comes last), short
 * enough for one line of a report.
 */
export const REASON_CHARS = 500;
