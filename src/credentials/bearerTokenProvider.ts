/**
 * `getBearerTokenProvider`, as `@azure/identity` exports it: a function that
 * returns a bearer token for fixed scopes, for clients that take a token
 * callback instead of a `TokenCredential` (the OpenAI SDK's
 * `azureADTokenProvider`, raw `fetch`). Code that imports it beside
 * `DefaultAzureCredential` keeps working with only the import changed.
 *
 * No pipeline around it (`@azure/identity` runs a dummy request through
 * `bearerTokenAuthenticationPolicy` to get caching and refresh), but the same
 * keeping: the provider holds its last token and asks the credential again
 * only when that token is due for refresh (its `refreshAfterTimestamp`, else
 * 2 minutes before expiry, the policy's window), one request for concurrent
 * callers. azmi's own credentials cache too; a custom `TokenCredential` may
 * not, and was asked on every call.
 *
 * @example
 * ```ts
 * const getToken = getBearerTokenProvider(new DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default");
 * const res = await fetch(url, { headers: { Authorization: `Bearer ${await getToken()}` } });
 * ```
 */
import type { AccessToken, TokenCredential, TracingContext } from "@azure/core-auth";
import { AuthenticationError } from "../errors";

export interface GetBearerTokenProviderOptions {
  /** Cancels each token request made through the provider. */
  abortSignal?: AbortSignal;
  tracingOptions?: { tracingContext?: TracingContext };
}

/**
 * @throws TypeError when `credential` has no `getToken`; the provider rejects with the
 *   credential's own error, or `AuthenticationError` when it resolved without a token.
 */
export function getBearerTokenProvider(
  credential: TokenCredential,
  scopes: string | string[],
  options: GetBearerTokenProviderOptions = {},
): () => Promise<string> {
  if (typeof (credential as Partial<TokenCredential> | null | undefined)?.getToken !== "function") {
    throw new TypeError("getBearerTokenProvider: credential must be a TokenCredential (an object with a getToken method), e.g. new DefaultAzureCredential().");
  }
  const { abortSignal, tracingOptions } = options ?? {};
  let held: AccessToken | undefined;
  let pending: Promise<AccessToken> | undefined;
  const fetchToken = async (): Promise<AccessToken> => {
    const token = await credential.getToken(scopes, { abortSignal, tracingOptions });
    if (!token?.token) throw new AuthenticationError(`getBearerTokenProvider: the credential returned no token for ${JSON.stringify(scopes)}.`);
    return token;
  };
  return async () => {
    const now = Date.now();
    if (held !== undefined && now < (held.refreshAfterTimestamp ?? held.expiresOnTimestamp - REFRESH_WINDOW_MS)) return held.token;
    pending ??= fetchToken().finally(() => (pending = undefined));
    try {
      held = await pending;
    } catch (error) {
      // A failed early refresh: the held token still serves until it nearly expires (as the policy does).
      if (held !== undefined && Date.now() < held.expiresOnTimestamp - LAST_USE_MS) return held.token;
      throw error;
    }
    return held.token;
  };
}

/** How long before expiry a held token is refreshed, without a refreshAfterTimestamp (bearerTokenAuthenticationPolicy's window). */
const REFRESH_WINDOW_MS = 2 * 60 * 1000;
/** A held token is not handed out closer to its expiry than this (a request must still reach the service in time). */
const LAST_USE_MS = 30 * 1000;
