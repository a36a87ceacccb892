/**
 * `getBearerTokenProvider`, as `@azure/identity` exports it: a function that
 * returns a bearer token for fixed scopes, for clients that take a token
 * callback instead of a `TokenCredential` (the OpenAI SDK's
 * `azureADTokenProvider`, raw `fetch`). Code that imports it beside
 * `DefaultAzureCredential` keeps working with only the import changed.
 *
 * No pipeline around it (`@azure/identity` runs a dummy request through
 * `bearerTokenAuthenticationPolicy` to get caching and refresh): azmi's
 * credentials cache and refresh early themselves, and so does every
 * `@azure/identity` credential (MSAL's cache).
 *
 * @example
 * ```ts
 * const getToken = getBearerTokenProvider(new DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default");
 * const res = await fetch(url, { headers: { Authorization: `Bearer ${await getToken()}` } });
 * ```
 */
import type { TokenCredential, TracingContext } from "@azure/core-auth";
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
  return async () => {
    const token = await credential.getToken(scopes, { abortSignal, tracingOptions });
    if (!token?.token) throw new AuthenticationError(`getBearerTokenProvider: the credential returned no token for ${JSON.stringify(scopes)}.`);
    return token.token;
  };
}
