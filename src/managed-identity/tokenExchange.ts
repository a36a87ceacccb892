/**
 * Token exchange (AKS workload identity, spec §3/§4.9): the federated token
 * file is exchanged at Entra ID for an access token. That is an Entra flow,
 * so it is delegated to `@azure/identity`'s `WorkloadIdentityCredential`
 * (with `disableInstanceDiscovery: true`, as its own token-exchange MSI does),
 * required lazily so nobody else pays for loading it.
 *
 * Error mapping: `CredentialUnavailableError` (network) and a token file
 * that is missing, unreadable or empty (which `@azure/identity` reports as
 * `AuthenticationRequiredError`, as if Entra had refused) are unavailable; Entra answering no (`AuthenticationError`,
 * `AuthenticationRequiredError`) becomes our `AuthenticationError` — the
 * endpoint answered definitively (JS keeps `AuthenticationRequiredError`,
 * which lets a chain move on to endpoints that would not be used anyway).
 *
 * @example
 * ```ts
 * const token = await exchangeToken(source, "https://vault.azure.net/.default", {});
 * ```
 */
import type { GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { abortError, untilAborted, untilTimeout } from "../credentials/abort";
import type { AzmiAccessToken } from "../credentials/types";
import { AuthenticationError, CredentialUnavailableError, ErrorCode } from "../errors";
import { redact, redactedCause, registerSecret } from "../log";
import { FEDERATED_TOKEN_FILE_HINT, federatedTokenFileProblem, unsafeToReadProblem } from "../credentials/federatedTokenFile";
import type { TokenExchangeSource } from "./types";

const credentials = new WeakMap<TokenExchangeSource, TokenCredential>();

function credentialFor(source: TokenExchangeSource, budgetMs: number): TokenCredential {
  let credential = credentials.get(source);
  if (!credential) {
    // Lazy on purpose: @azure/identity costs ~100 ms to load.
    const { WorkloadIdentityCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const { withRequestTimeout } = require("../credentials/requestTimeout") as typeof import("../credentials/requestTimeout");
    // (Each request gets the credential's budget as its timeout: see withinBudget.)
    credential = new WorkloadIdentityCredential(
      withRequestTimeout<import("@azure/identity").WorkloadIdentityCredentialOptions>(
        {
          clientId: source.clientId,
          tenantId: source.tenantId,
          tokenFilePath: source.tokenFilePath,
          ...(source.authorityHost ? { authorityHost: source.authorityHost } : {}),
          disableInstanceDiscovery: true,
        },
        budgetMs,
      ),
    );
    credentials.set(source, credential);
  }
  return credential;
}

/**
 * Exchange the federated token for an access token for one scope, within
 * `budgetMs` (the credential's `timeBudgetMs`).
 */
export async function exchangeToken(
  source: TokenExchangeSource,
  scope: string,
  options: GetTokenOptions,
  budgetMs: number,
): Promise<AzmiAccessToken> {
  const unsafe = unsafeToReadProblem(source.tokenFilePath);
  if (unsafe) {
    throw new CredentialUnavailableError(
      `ManagedIdentityCredential: ${source.name} for client ${source.clientId} via ${source.endpoint}: the federated token file ${source.tokenFilePath} (AZURE_FEDERATED_TOKEN_FILE) ${unsafe}. ${FEDERATED_TOKEN_FILE_HINT}`,
      { code: ErrorCode.InvalidEnvironment },
    );
  }
  const controller = new AbortController();
  const passAbort = () => controller.abort();
  options.abortSignal?.addEventListener("abort", passAbort, { once: true });
  let token;
  try {
    const call = credentialFor(source, budgetMs).getToken(scope, { abortSignal: controller.signal, tenantId: options.tenantId });
    // Settled by the budget or the caller's abort at the latest, not only
    // through the signal: `@azure/identity` does not pass it to every request
    // it makes (MSAL's discovery GET went out without one, and without a
    // timeout), so an authority that took the connection and never answered
    // held the call, and a chain behind it, for good. The call goes on until
    // its request's own timeout (`withRequestTimeout`, which closes the
    // socket); its late outcome is dropped.
    token = await untilAborted(
      untilTimeout(call, budgetMs, () => (controller.abort(), abortError())),
      options.abortSignal,
    );
  } catch (e) {
    const prefix = `ManagedIdentityCredential: ${source.name} for client ${source.clientId} via ${source.endpoint}`;
    if (controller.signal.aborted && !options.abortSignal?.aborted) {
      throw new CredentialUnavailableError(`${prefix} did not answer within the ${budgetMs} ms time budget (timeBudgetMs).`, {
        code: ErrorCode.BudgetExceeded,
        cause: redactedCause(e),
      });
    }
    const name = (e as Error | undefined)?.name;
    // A missing, unreadable or empty token file: nobody answered, so unavailable (as in @azure/identity), and say which file.
    const problem = name === "AbortError" ? undefined : federatedTokenFileProblem(source.tokenFilePath, "AZURE_FEDERATED_TOKEN_FILE");
    if (problem) {
      throw new CredentialUnavailableError(`${prefix}: ${problem}. ${FEDERATED_TOKEN_FILE_HINT}`, { code: ErrorCode.InvalidEnvironment, cause: redactedCause(e) });
    }
    const detail = redact(String((e as Error | undefined)?.message ?? e)).slice(0, 400);
    const message = `${prefix} failed: ${detail}`;
    if (name === "CredentialUnavailableError" || name === "AbortError") throw new CredentialUnavailableError(message, { cause: redactedCause(e) });
    throw new AuthenticationError(message, {
      cause: redactedCause(e),
      statusCode: (e as { statusCode?: number }).statusCode,
    });
  } finally {
    options.abortSignal?.removeEventListener("abort", passAbort);
  }
  if (!token) throw new CredentialUnavailableError(`ManagedIdentityCredential: ${source.name} returned no token.`, { code: ErrorCode.InvalidResponse });
  registerSecret(token.token);
  return { ...token, tokenType: "Bearer" };
}

