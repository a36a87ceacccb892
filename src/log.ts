/**
 * Logging in `@azure/logger` conventions: off by default, switched on with
 * `AZURE_LOG_LEVEL=verbose|info|warning|error` (or `setLogLevel`), written to
 * stderr as `azmi:<level> <Credential> => <method>() => <message>`.
 *
 * Everything passes through `redact()`: values registered as secret (tokens
 * we received, client secrets, identity headers) and anything shaped like a
 * JWT or a bearer header are replaced before a line is written.
 *
 * @example
 * ```ts
 * const log = credentialLogger("ManagedIdentityCredential");
 * log.info("getToken", `IMDS answered in ${ms} ms`);
 * ```
 */
import type { AzureLogger } from "@azure/logger";

/**
 * `@azure/logger` is loaded on the first line that could be written: when
 * AZURE_LOG_LEVEL or DEBUG is set, or when the application had already
 * loaded it (then it may have called `setLogLevel`). That last question is
 * asked once, at the first line, by a scan of `require.cache` (no file
 * system work): an app that loads `@azure/logger` only after azmi's first
 * log line gets azmi's lines through AZURE_LOG_LEVEL. A CLI call with
 * logging off never pays for the logger (a fifth of `azmi token`'s start-up).
 */
let root: AzureLogger | undefined;
let appLoadedLogger: boolean | undefined;

function activeLogger(): AzureLogger | undefined {
  if (root) return root;
  appLoadedLogger ??= azureLoggerLoaded();
  if (logLevelFromEnv() || appLoadedLogger) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    root = (require("@azure/logger") as typeof import("@azure/logger")).createClientLogger("azmi");
  }
  return root;
}

/** Whether the environment asks for Azure SDK logging (`AZURE_LOG_LEVEL`, or `DEBUG` for the `debug` package). */
export function logLevelFromEnv(): boolean {
  return Boolean(process.env.AZURE_LOG_LEVEL || process.env.DEBUG);
}

/**
 * Whether `@azure/logger` is loaded in this process (by azmi, an Azure SDK
 * or the application), asked now by a scan of `require.cache`.
 *
 * @example
 * ```ts
 * if (logLevelFromEnv() || azureLoggerLoaded()) await flushStreams();
 * ```
 */
export function azureLoggerLoaded(): boolean {
  // (No cache at all under some ESM loader hooks: then nothing is known to be loaded.)
  return Object.keys(require.cache ?? {}).some((file) => file.includes("@azure/logger"));
}

/** Secret values seen in this process; kept only to scrub them from text. */
const secrets = new Set<string>();

/** Shorter values would redact ordinary words; real secrets are longer. */
const MIN_SECRET_LENGTH = 8;

const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
/** A value that is one JWT and nothing else: `redact` removes it by its shape, wherever it appears. */
const WHOLE_JWT = new RegExp(`^${JWT_PATTERN.source}$`);
/** The size of the redaction set above which whole JWTs are dropped from it (doubling while what stays is larger). */
let pruneAbove = 1000;

/**
 * Register a value that must never appear in a log line or an error message.
 * Whole JWTs are dropped again once the set is large: the JWT pattern redacts
 * them already, and a server mints or forwards a new one per resource and
 * refresh, so keeping each one would grow this set (and every redaction's
 * scan) for as long as it runs; a default `azmi serve` mints one for any
 * local process that asks.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
  secrets.add(value);
  // A long-running server registers every token it hands out, so the set
  // would grow for good. Whole JWTs need no place in it (redaction knows them
  // by their shape): drop them once the set is large. Only then: a short
  // process (azmi token) never pays for compiling and running the pattern
  // (~0.3 M instructions, callgrind).
  if (secrets.size > pruneAbove) {
    for (const secret of secrets) if (WHOLE_JWT.test(secret)) secrets.delete(secret);
    pruneAbove = Math.max(pruneAbove, secrets.size * 2);
  }
}

/**
 * Forget a value registered with {@link registerSecret} that no longer exists
 * anywhere (a consumed or expired one-time secret), so a long-running server
 * does not grow the set, and every redaction's scan, with each one it made.
 */
export function unregisterSecret(value: string): void {
  secrets.delete(value);
}

/** How many values are registered as secret (tests check that serving tokens does not grow it). */
export function registeredSecretCount(): number {
  return secrets.size;
}

const BEARER_PATTERN = /(Bearer\s+)[^\s"',]+/gi;
/** Field names whose values are secrets (`client_secret` is covered by `secret`, `x-identity-header` by `identity-header`). */
const SECRET_FIELDS = ["access_token", "refresh_token", "secret", "password", "client_assertion", "identity-header", "identity_header"];
// (Double or single quotes: JSON, and a Python or JavaScript object printed as text.)
const SECRET_FIELD_PATTERN =
  /(["']?(?:access_token|refresh_token|client_secret|secret|password|client_assertion|x-identity-header|identity_header)["']?\s*[:=]\s*["']?)([^"'&\s,}]+)/gi;

/**
 * A stand-in for an error from another library (`@azure/identity`, MSAL),
 * fit to keep as an error's `cause`: its name, `code` and `statusCode`, its
 * message redacted, and nothing else. Not the error itself: its message may
 * quote what an authority echoed (a client secret, an assertion), its stack
 * repeats that message, and its `errorResponse`, claims or request hold the
 * same; a `cause` is printed by `util.inspect` and `console.log` of ours.
 *
 * @example
 * ```ts
 * throw new AuthenticationError(message, { cause: redactedCause(error) });
 * ```
 */
export function redactedCause(error: unknown): Error | undefined {
  if (error === undefined || error === null) return undefined;
  const from = error as { name?: unknown; message?: unknown; code?: unknown; statusCode?: unknown };
  const copy = new Error(redact(typeof from.message === "string" ? from.message : String(error))) as Error & { code?: string; statusCode?: number };
  copy.name = typeof from.name === "string" ? from.name : "Error";
  copy.stack = `${copy.name}: ${copy.message}`;
  if (typeof from.code === "string") copy.code = from.code;
  if (typeof from.statusCode === "number") copy.statusCode = from.statusCode;
  return copy;
}

/** Replace every known secret and anything token-shaped with `[REDACTED]`. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join("[REDACTED]");
  }
  // Each pattern runs only when the text holds what any match must contain:
  // most messages (every "unavailable" reason of a chain walk) hold none, and
  // a regex's first run compiles it (~0.5 ms of a CLI start for these three).
  if (out.includes("eyJ")) out = out.replace(JWT_PATTERN, "[REDACTED]");
  const lower = out.toLowerCase();
  if (lower.includes("bearer")) out = out.replace(BEARER_PATTERN, "$1[REDACTED]");
  if (mayHoldSecretField(lower)) out = out.replace(SECRET_FIELD_PATTERN, "$1[REDACTED]");
  return out;
}

/**
 * Whether `lower` holds a secret field name followed by `:` or `=` (after an
 * optional quote and spaces), which every SECRET_FIELD_PATTERN match does.
 * An "unavailable" reason such as `WorkloadIdentityCredential is unavailable:
 * AZURE_FEDERATED_TOKEN_FILE is not set` then never runs the pattern.
 */
function mayHoldSecretField(lower: string): boolean {
  for (const field of SECRET_FIELDS) {
    for (let at = lower.indexOf(field); at >= 0; at = lower.indexOf(field, at + 1)) {
      let i = at + field.length;
      if (lower.charCodeAt(i) === 34 /* " */ || lower.charCodeAt(i) === 39 /* ' */) i++;
      // Skip what `\s` skips (and a little more, which only lets the pattern run needlessly), without a regex.
      while (i < lower.length && isSpaceLike(lower.charCodeAt(i))) i++;
      const c = lower.charCodeAt(i);
      if (c === 58 /* : */ || c === 61 /* = */) return true;
    }
  }
  return false;
}

/** Every code unit `\s` matches, plus some it does not (never `:` or `=`). */
function isSpaceLike(code: number): boolean {
  return code <= 32 || code === 0xa0 || code >= 0x1680;
}

/**
 * A log message, or a function that builds it: for messages that cost
 * something to build (a date formatted with `toISOString`, whose first call
 * loads the time zone, ~0.35 ms), built only when the level is on.
 */
export type LogMessage = string | (() => string);

export interface CredentialLogger {
  info(method: string, message: LogMessage): void;
  verbose(method: string, message: LogMessage): void;
  warning(method: string, message: LogMessage): void;
  error(method: string, message: LogMessage): void;
}

/** A logger whose lines read `<credential> => <method>() => <message>`, redacted. */
export function credentialLogger(credential: string): CredentialLogger {
  // Redaction scans every line for every secret: do it only when the level
  // is on, so logging that is off costs one property read.
  const write = (level: "info" | "verbose" | "warning" | "error", method: string, message: LogMessage) => {
    const sink = activeLogger()?.[level];
    if (sink?.enabled) sink(redact(`${credential} => ${method}() => ${typeof message === "function" ? message() : message}`));
  };
  return {
    info: (method, message) => write("info", method, message),
    verbose: (method, message) => write("verbose", method, message),
    warning: (method, message) => write("warning", method, message),
    error: (method, message) => write("error", method, message),
  };
}
