/**
 * `../log` (and with it `@azure/logger`, ~15 ms to load) on first use only,
 * so constructing a credential costs no logger; the first log line, secret
 * registration or redaction loads it. Same signatures as `../log`.
 *
 * @example
 * ```ts
 * import { credentialLogger, redact } from "./lazyLog";
 * credentialLogger("EnvironmentCredential").info("getToken", redact(message));
 * ```
 */
import type * as Log from "../log";

let log: typeof Log | undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (): typeof Log => (log ??= require("../log") as typeof Log);

export type CredentialLogger = Log.CredentialLogger;

/** See `registerSecret` in `../log`; loads it only when there is a secret to register. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === "string" && value.length > 0) load().registerSecret(value);
}

/** See `redact` in `../log`. */
export function redact(text: string): string {
  return load().redact(text);
}

/** See `redactedCause` in `../log`. */
export function redactedCause(error: unknown): Error | undefined {
  return load().redactedCause(error);
}

/** See `credentialLogger` in `../log`; the real logger is made on the first line written. */
export function credentialLogger(credential: string): CredentialLogger {
  let real: CredentialLogger | undefined;
  const get = () => (real ??= load().credentialLogger(credential));
  return {
    info: (method, message) => get().info(method, message),
    verbose: (method, message) => get().verbose(method, message),
    warning: (method, message) => get().warning(method, message),
    error: (method, message) => get().error(method, message),
  };
}
