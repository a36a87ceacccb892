/**
 * One error shape for all of azmi: every error has a `name`, a stable `code`
 * and, where something underneath failed, a `cause`. Callers match on `code`.
 *
 * Messages never contain a token, a secret or an `IDENTITY_HEADER` value:
 * build them from facts (addresses, option names, status codes), not from
 * request or response bodies, and pass bodies through `redact()` when quoting.
 *
 * @example
 * ```ts
 * try { await credential.getToken(scope); }
 * catch (e) { if (isAzmiError(e) && e.code === ErrorCode.Timeout) retryLater(); }
 * ```
 */
export const ErrorCode = {
  // transport facts (native addon and node:net fallback use the same codes)
  Timeout: "ETIMEDOUT",
  ConnectionRefused: "ECONNREFUSED",
  NetworkUnreachable: "ENETUNREACH",
  HostUnreachable: "EHOSTUNREACH",
  ConnectionReset: "ECONNRESET",
  HttpParse: "ERR_HTTP_PARSE",
  HeadersTooLarge: "ERR_HEADERS_TOO_LARGE",
  BodyTooLarge: "ERR_BODY_TOO_LARGE",
  DnsLookup: "ERR_DNS_LOOKUP",
  Tls: "ERR_TLS",
  TlsThumbprintMismatch: "ERR_TLS_THUMBPRINT_MISMATCH",
  // input validation at the public edge
  InvalidArgument: "ERR_INVALID_ARGUMENT",
  InvalidEnvironment: "ERR_INVALID_ENVIRONMENT",
  // credential outcomes
  CredentialUnavailable: "ERR_CREDENTIAL_UNAVAILABLE",
  AuthenticationFailed: "ERR_AUTHENTICATION_FAILED",
  AllCredentialsUnavailable: "ERR_ALL_CREDENTIALS_UNAVAILABLE",
  InvalidResponse: "ERR_INVALID_RESPONSE",
  TokenExpired: "ERR_TOKEN_EXPIRED",
  BudgetExceeded: "ERR_BUDGET_EXCEEDED",
  // managed identity (src/managed-identity)
  MiMultipleScopes: "ERR_MI_MULTIPLE_SCOPES",
  MiUnsupportedSelector: "ERR_MI_UNSUPPORTED_SELECTOR",
  MiIdentityNotFound: "ERR_MI_IDENTITY_NOT_FOUND",
  MiIdentityNotConfirmed: "ERR_MI_IDENTITY_NOT_CONFIRMED",
  MiProbeNegative: "ERR_MI_PROBE_NEGATIVE",
  MiEndpointError: "ERR_MI_ENDPOINT_ERROR",
  MiUnreachable: "ERR_MI_UNREACHABLE",
  MiArcChallenge: "ERR_MI_ARC_CHALLENGE",
  // local endpoint and bridge
  ServerStart: "ERR_SERVER_START",
  StateFile: "ERR_STATE_FILE",
  KeyFile: "ERR_KEY_FILE",
  Bridge: "ERR_BRIDGE",
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface AzmiErrorOptions {
  cause?: unknown;
}

/** Base class of every error azmi throws on purpose. */
export class AzmiError extends Error {
  readonly code: string;
  // `declare`: no class field, so an error without a cause has no `cause`
  // property at all (a field would print `cause: undefined` on every error).
  declare readonly cause?: unknown;

  constructor(code: string, message: string, options: AzmiErrorOptions = {}) {
    super(message);
    this.name = "AzmiError";
    this.code = code;
    if (options.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** Facts about a failed socket exchange, as the transport reports them. */
export interface TransportFacts {
  phase: "resolve" | "connect" | "write" | "headers" | "body" | "tls";
  address: string;
  port: number;
  timeoutMs: number;
  elapsedMs: number;
}

/** A socket-level failure: connect, write, read, framing or deadline. */
export class TransportError extends AzmiError implements TransportFacts {
  readonly phase: TransportFacts["phase"];
  readonly address: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly elapsedMs: number;

  constructor(code: string, message: string, facts: TransportFacts, options: AzmiErrorOptions = {}) {
    super(code, message, options);
    this.name = "TransportError";
    this.phase = facts.phase;
    this.address = facts.address;
    this.port = facts.port;
    this.timeoutMs = facts.timeoutMs;
    this.elapsedMs = facts.elapsedMs;
  }
}

/**
 * "This link cannot be used here; try the next one." The name matches
 * `@azure/identity`'s so that its `ChainedTokenCredential` moves on too.
 */
export class CredentialUnavailableError extends AzmiError {
  constructor(message: string, options: AzmiErrorOptions & { code?: string } = {}) {
    super(options.code ?? ErrorCode.CredentialUnavailable, message, options);
    this.name = "CredentialUnavailableError";
  }
}

/**
 * "This link answered and said no." Stops a chain. The name matches
 * `@azure/identity`'s `AuthenticationError`.
 */
export class AuthenticationError extends AzmiError {
  readonly statusCode?: number;
  /**
   * What the service said, in `@azure/identity`'s shape (its
   * `AuthenticationError` always has one, and code reads
   * `error.errorResponse.error`): the OAuth `error` and `error_description`
   * when the answer had them, else `unknown_error` and this error's message.
   */
  readonly errorResponse: AuthenticationErrorResponse;

  constructor(
    message: string,
    options: AzmiErrorOptions & { code?: string; statusCode?: number; errorResponse?: AuthenticationErrorResponse } = {},
  ) {
    super(options.code ?? ErrorCode.AuthenticationFailed, message, options);
    this.name = "AuthenticationError";
    if (options.statusCode !== undefined) this.statusCode = options.statusCode;
    this.errorResponse = options.errorResponse ?? { error: "unknown_error", errorDescription: message };
  }
}

/** `@azure/identity`'s `ErrorResponse`: an OAuth error answer, camel-cased. */
export interface AuthenticationErrorResponse {
  error: string;
  errorDescription: string;
  errorCodes?: number[];
  timestamp?: number;
  traceId?: string;
  correlationId?: string;
}

/** One link a chain tried, as its report and its error message's lines name it. */
export interface TriedLink {
  /** The link's name, e.g. `managed-identity`. */
  link: string;
  outcome: string;
  /** One line, no secrets. */
  reason: string;
}

/**
 * Every link of a chain failed. `errors` holds each link's error in the
 * order the links were tried (a remembered winner first); `tried` names the
 * links tried in the chain's order, as the message lists them (empty when
 * it tried none), so the two are not parallel.
 */
export class AggregateAuthenticationError extends AzmiError {
  readonly errors: unknown[];
  // `declare` and not enumerable: printed errors show the message's lines, not these again.
  declare readonly tried: readonly TriedLink[];

  constructor(errors: unknown[], message: string, tried: readonly TriedLink[] = []) {
    super(ErrorCode.AllCredentialsUnavailable, message, {});
    this.name = "AggregateAuthenticationError";
    this.errors = errors;
    Object.defineProperty(this, "tried", { value: tried });
  }
}

/** The error names `@azure/identity` exports as constants, for code that compares `error.name` with them. */
export const CredentialUnavailableErrorName = "CredentialUnavailableError";
export const AuthenticationErrorName = "AuthenticationError";
export const AggregateAuthenticationErrorName = "AggregateAuthenticationError";

/** True for errors azmi raised on purpose (they carry a stable `code`). */
export function isAzmiError(value: unknown): value is AzmiError {
  return value instanceof AzmiError;
}

/**
 * Whether a chain may move on past this error: the same rule as
 * `@azure/identity` (by name, so errors from either library count).
 */
export function isUnavailable(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "CredentialUnavailableError" || name === "AuthenticationRequiredError";
}
