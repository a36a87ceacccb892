/**
 * The base of every link that delegates the wire work to `@azure/identity`
 * (Entra flows and developer tools). What stays ours: the availability check
 * done without I/O before `@azure/identity` is even loaded, the error shape
 * (`CredentialUnavailableError` moves a chain on, `AuthenticationError`
 * stops it — the same names both libraries' chains look for), redaction, the
 * token cache in front, and the extra fields (`resource`, `clientId`,
 * `notBeforeTimestamp`) the MSI shape needs.
 *
 * @example
 * ```ts
 * class MyCredential extends DelegatedCredential {
 *   readonly credentialName = "MyCredential";
 *   protected availability() { return undefined; }
 *   protected createInner(identity) { return new identity.AzureCliCredential(); }
 * }
 * ```
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { TokenCache } from "../cache/tokenCache";
import { AuthenticationError, CredentialUnavailableError, ErrorCode, isAzmiError, type AuthenticationErrorResponse } from "../errors";
import { credentialLogger, redact, redactedCause, registerSecret, type CredentialLogger } from "./lazyLog";
import { loadAzureIdentity, type AzureIdentityModule } from "./identityLoader";
import { clientIdFromClaims, decodeJwtClaims } from "./jwtClaims";
import { scopeList, scopeToResource, tokenCacheKey } from "./scopes";
import type { AzmiAccessToken, AzmiGetTokenOptions } from "./types";
import { unavailable, unavailableMessage } from "./unavailable";
import { abortError, badAbortSignal, joinedTimeout, limitsFired, untilAborted, untilTimeout } from "./abort";
import { nowMs } from "../clock";

/** Why a link cannot be used here, found without I/O. */
export interface Unavailability {
  reason: string;
  hint?: string;
}

/**
 * How long an Entra ID flow's request to `@azure/identity` may take (see
 * `callLimitMs`): as long as a managed-identity call's default budget.
 */
export const ENTRA_CALL_LIMIT_MS = 30_000;

export abstract class DelegatedCredential implements TokenCredential {
  /** Class name used in messages, logs and reports, e.g. `EnvironmentCredential`. */
  abstract readonly credentialName: string;
  private inner?: TokenCredential;
  private readonly cache = new TokenCache();
  private logger?: CredentialLogger;
  /** The "unavailable" error, built once: availability is decided at construction and never changes. */
  private unavailableError?: Error;
  private unavailableLogged = false;

  /** `undefined` when the link may work; otherwise why not (checked before loading `@azure/identity`). */
  protected abstract availability(): Unavailability | undefined;
  /** Builds the `@azure/identity` credential that does the work. Called once, on the first token request. */
  protected abstract createInner(identity: AzureIdentityModule): TokenCredential;
  /** Client id to report when the token doesn't name one. */
  protected configuredClientId(): string | undefined {
    return undefined;
  }

  /**
   * An error to fail with before `@azure/identity` is asked (e.g. a
   * credential file that a read would wait on forever), else `undefined`.
   */
  protected problemBeforeFetch(): Error | undefined {
    return undefined;
  }

  /**
   * How long one request to `@azure/identity` may take before this link
   * gives up on it (a caller's longer `requestOptions.timeout` raises it),
   * or `undefined` for no limit of ours. The Entra ID flows set one: MSAL
   * sends its requests without a timeout, so an authority that accepts the
   * connection and never answers held the call, and a chain behind it, for
   * good. (The developer tools bound themselves: `processTimeoutInMs`.)
   */
  protected callLimitMs(): number | undefined {
    return undefined;
  }

  /** Turns an `@azure/identity` error into azmi's shape (see {@link mapDelegatedError}). */
  protected mapError(error: unknown): Error {
    return mapDelegatedError(this.credentialName, error);
  }

  /** One line saying what this link would use, e.g. `client secret for app 1234… in tenant contoso`. */
  describe(): string {
    const missing = this.availability();
    return missing ? `unavailable: ${missing.reason}` : this.credentialName;
  }

  /**
   * A token for `scopes`, from the cache when one is valid.
   *
   * @example
   * ```ts
   * const token = await new AzureCliCredential().getToken("https://management.azure.com/.default");
   * ```
   */
  getToken(scopes: string | string[], options: AzmiGetTokenOptions = {}): Promise<AzmiAccessToken> {
    const error = this.unavailableNow();
    if (error) return Promise.reject(error);
    const signal = options.abortSignal;
    const badSignal = badAbortSignal(signal);
    if (badSignal) return Promise.reject(badSignal);
    if (signal?.aborted) return Promise.reject(abortError());
    const fullKey = tokenCacheKey(scopes, options);
    // A claims challenge (the resource rejected the cached token) or forceRefresh:
    // fetch anew, and the new token replaces the cached one (as in MSAL's cache).
    if (options.claims || options.forceRefresh) this.cache.clear(fullKey);
    // The fetch carries the first caller's signal and timeout to @azure/identity; if they fire, the others fetch for themselves.
    const timeout = options.requestOptions?.timeout;
    const limits = limitsFired(signal, timeout);
    const whileJoined = joinedTimeout<AccessToken>(timeout, this.credentialName, "the token request");
    const pending = this.cache.getToken(fullKey, () => this.fetch(scopes, options), limits, whileJoined) as Promise<AzmiAccessToken>;
    // @azure/identity's developer tools take no requestOptions.timeout (a hanging az held the
    // caller that started the request for good): the caller's answer comes by then, the tool goes on.
    const bounded =
      typeof timeout === "number" && timeout > 0
        ? untilTimeout(
            pending,
            timeout,
            () =>
              new CredentialUnavailableError(
                `${this.credentialName}: no token within requestOptions.timeout (${timeout} ms); the request goes on, and its token is cached for later calls.`,
                { code: ErrorCode.Timeout },
              ),
          )
        : pending;
    return untilAborted(bounded, signal);
  }

  /**
   * Why this link cannot be used, when that is known without trying (no
   * I/O, no error object): a chain reports the reason and moves on, and
   * builds the error (`unavailableNow`) only if no link answers. An Error
   * with its stack is the costly part of an unavailable link (~0.1 ms each
   * in a fresh process, on every `azmi token`).
   *
   * @example
   * ```ts
   * new EnvironmentCredential({ env: {} }).knownUnavailable(); // "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET not set"
   * ```
   */
  knownUnavailable(): string | undefined {
    const missing = this.availability();
    if (missing === undefined) return undefined;
    this.logUnavailable(missing);
    return redact(missing.reason);
  }

  /** The error `getToken` rejects with while the link is unavailable (built once), else `undefined`. */
  unavailableNow(): Error | undefined {
    if (this.unavailableError) return this.unavailableError;
    const missing = this.availability();
    if (!missing) return undefined;
    // Built once: availability is decided at construction and never changes.
    this.unavailableError = unavailable(this.credentialName, missing.reason, missing.hint);
    this.logUnavailable(missing);
    return this.unavailableError;
  }

  /** Says once, at info level, why this link is unavailable and what to do (the error's message). */
  private logUnavailable(missing: Unavailability): void {
    if (this.unavailableLogged) return;
    this.unavailableLogged = true;
    this.log().info("getToken", () => unavailableMessage(this.credentialName, missing.reason, missing.hint));
  }

  private log(): CredentialLogger {
    return (this.logger ??= credentialLogger(this.credentialName));
  }

  private async fetch(scopes: string | string[], options: GetTokenOptions): Promise<AzmiAccessToken> {
    const started = nowMs();
    const before = this.problemBeforeFetch();
    if (before) throw before;
    let token;
    try {
      this.inner ??= this.createInner(loadAzureIdentity());
      const call = this.inner.getToken(scopes, options);
      const ownTimeout = options.requestOptions?.timeout;
      const limit = this.callLimitMs();
      const ms = limit === undefined ? undefined : Math.max(limit, typeof ownTimeout === "number" && ownTimeout > 0 ? ownTimeout : 0);
      token =
        ms === undefined
          ? await call
          : await untilTimeout(
              call,
              ms,
              () =>
                new CredentialUnavailableError(
                  `${this.credentialName}: Entra ID did not answer within ${ms} ms; check AZURE_AUTHORITY_HOST and the network path to it (a proxy or firewall that drops the traffic). A longer requestOptions.timeout waits longer.`,
                  { code: ErrorCode.Timeout },
                ),
            );
    } catch (error) {
      const mapped = this.mapError(error);
      this.log().info("getToken", `${mapped.name}: ${mapped.message.split("\n", 1)[0]}`);
      throw mapped;
    }
    if (!token) {
      throw unavailable(this.credentialName, "no token was returned");
    }
    registerSecret(token.token);
    const claims = decodeJwtClaims(token.token);
    const list = scopeList(scopes);
    const result: AzmiAccessToken = {
      token: token.token,
      expiresOnTimestamp: token.expiresOnTimestamp,
      tokenType: token.tokenType ?? "Bearer",
      resource: list.length === 1 ? scopeToResource(list[0]!) : undefined,
    };
    if (token.refreshAfterTimestamp !== undefined) result.refreshAfterTimestamp = token.refreshAfterTimestamp;
    const clientId = clientIdFromClaims(claims) ?? this.configuredClientId();
    if (clientId) result.clientId = clientId;
    if (typeof claims?.nbf === "number") result.notBeforeTimestamp = claims.nbf * 1000;
    this.log().info(
      "getToken",
      () => `token for ${list.join(" ")} expires ${new Date(token.expiresOnTimestamp).toISOString()} (${Math.round(
        nowMs() - started,
      )} ms)`,
    );
    return result;
  }
}

/**
 * Maps an error thrown by an `@azure/identity` credential to azmi's shape,
 * keeping the chain semantics: unavailable (and `AuthenticationRequiredError`,
 * which `@azure/identity` chains also skip) ⇒ `CredentialUnavailableError`;
 * an answer from Entra ⇒ `AuthenticationError` with its status code.
 *
 * @example
 * ```ts
 * try { await inner.getToken(scope); } catch (e) { throw mapDelegatedError("EnvironmentCredential", e); }
 * ```
 */
export function mapDelegatedError(credential: string, error: unknown): Error {
  if (isAzmiError(error)) return error;
  const name = (error as { name?: unknown } | null)?.name;
  const message = redact(error instanceof Error ? error.message : String(error));
  if (name === "AbortError") return error as Error;
  if (name === "CredentialUnavailableError") {
    return unavailable(credential, firstSentence(stripPrefix(message, credential)), undefined, redactedCause(error));
  }
  if (name === "AuthenticationRequiredError") {
    // Entra answered but not with a token (e.g. a rejected federated
    // assertion): @azure/identity chains move on, so ours do too.
    return unavailable(credential, `Entra ID did not issue a token (${firstSentence(message)})`, undefined, redactedCause(error));
  }
  if (name === "AuthenticationError") {
    const e = error as { statusCode?: number; errorResponse?: { error?: string; errorDescription?: string } };
    const what = e.errorResponse?.error ?? "error";
    const description = redact((e.errorResponse?.errorDescription ?? "").split("\n", 1)[0]!.trim());
    return new AuthenticationError(
      `${credential} authentication failed: Entra ID answered ${e.statusCode ?? "?"} ${what}${description ? ` (${description})` : ""}.`,
      { statusCode: e.statusCode, cause: redactedCause(error), errorResponse: errorResponseOf(error, message) },
    );
  }
  return new AuthenticationError(`${credential} authentication failed: ${message.split("\n", 1)[0]}`, {
    code: ErrorCode.AuthenticationFailed,
    cause: redactedCause(error),
    errorResponse: errorResponseOf(error, message),
  });
}

/**
 * The `errorResponse` of an error from `@azure/identity` or MSAL, in
 * `@azure/identity`'s shape (code reads `error.errorResponse.error`):
 * its own `errorResponse` if it has one, else the OAuth code and
 * description MSAL put in its message; `undefined` when neither is there
 * (the error then says `unknown_error` and its message). `raw` is the
 * error's message, already redacted.
 */
function errorResponseOf(error: unknown, raw: string): AuthenticationErrorResponse | undefined {
  const e = error as {
    errorResponse?: Partial<AuthenticationErrorResponse>;
    errorCode?: unknown;
    errorMessage?: unknown;
    correlationId?: unknown;
  } | null;
  const given = e?.errorResponse;
  if (given && typeof given.error === "string") {
    const out: AuthenticationErrorResponse = { error: redact(given.error), errorDescription: redact(String(given.errorDescription ?? "")) };
    if (Array.isArray(given.errorCodes)) out.errorCodes = given.errorCodes;
    if (given.timestamp !== undefined) out.timestamp = given.timestamp;
    if (typeof given.traceId === "string") out.traceId = given.traceId;
    if (typeof given.correlationId === "string") out.correlationId = given.correlationId;
    return out;
  }
  // MSAL: "invalid_client: Error(s): 7000215 - Timestamp: … - Description: AADSTS7000215: … Trace ID: … - Correlation ID: …"
  const code = typeof e?.errorCode === "string" && e.errorCode ? e.errorCode : /^([a-z_]+):/.exec(raw)?.[1];
  if (!code) return undefined;
  const description = /Description: (.*?)(?: Trace ID:| - Correlation ID:|$)/.exec(raw)?.[1]?.trim() ?? raw.split("\n", 1)[0]!;
  const out: AuthenticationErrorResponse = { error: code, errorDescription: description };
  const codes = /Error\(s\): ([\d ,]+?) -/.exec(raw)?.[1];
  if (codes) out.errorCodes = codes.split(/[ ,]+/).filter(Boolean).map(Number);
  const traceId = /Trace ID: ([0-9a-f-]{36})/i.exec(raw)?.[1];
  if (traceId) out.traceId = traceId;
  const correlationId = typeof e?.correlationId === "string" && e.correlationId ? e.correlationId : /Correlation ID: ([0-9a-f-]{36})/i.exec(raw)?.[1];
  if (correlationId) out.correlationId = correlationId;
  return out;
}

/**
 * An `AuthenticationError` for a link whose configuration is complete, so any
 * failure is final (what `@azure/identity`'s EnvironmentCredential does: it
 * turns every inner error into `AuthenticationError` 400 and its chain stops).
 * The Entra error code and description are kept; MSAL's timestamps and trace
 * ids are dropped.
 *
 * @example
 * ```ts
 * throw authenticationFailure("EnvironmentCredential", msalError);
 * ```
 */
export function authenticationFailure(credential: string, error: unknown): Error {
  const name = (error as { name?: unknown } | null)?.name;
  if (isAzmiError(error) || name === "AbortError") return error as Error;
  const e = error as { statusCode?: number; errorResponse?: { error?: string; errorDescription?: string } };
  const raw = redact(error instanceof Error ? error.message : String(error));
  let what: string;
  if (name === "AuthenticationError" && e.errorResponse) {
    what = `${e.errorResponse.error ?? "error"}${e.errorResponse.errorDescription ? `: ${e.errorResponse.errorDescription.split("\n", 1)[0]!.trim()}` : ""}`;
  } else {
    // MSAL: "invalid_client: Error(s): 7000215 - Timestamp: … - Description: AADSTS7000215: … Trace ID: …"
    const code = /^([a-z_]+):/.exec(raw)?.[1];
    const description = /Description: (.*?)(?: Trace ID:| - Correlation ID:|$)/.exec(raw)?.[1]?.trim();
    what = code && description ? `${code}: ${description}` : raw.split("\n", 1)[0]!;
  }
  return new AuthenticationError(`${credential} authentication failed: ${redact(what).replace(/\.?$/, ".")}`, {
    statusCode: e.statusCode ?? 400,
    cause: redactedCause(error),
    errorResponse: errorResponseOf(error, raw),
  });
}

function stripPrefix(message: string, credential: string): string {
  let m = message.trim();
  for (const p of [`${credential}:`, `${credential} is unavailable.`, credential]) {
    if (m.startsWith(p)) {
      m = m.slice(p.length).trim();
      break;
    }
  }
  return m || message;
}

function firstSentence(text: string): string {
  const line = text.split("\n", 1)[0]!.trim();
  return line.replace(/\.$/, "");
}
