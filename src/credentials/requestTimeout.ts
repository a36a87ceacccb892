/**
 * A pipeline policy for the `@azure/identity` credentials azmi delegates to
 * (Entra ID flows, token exchange): each HTTP request gets a timeout when it
 * has none of its own. MSAL sends its requests without one, and a signal or
 * a race on our side ends the call but not the request: each given-up call
 * left a socket open for good, and a process with nothing else to do never
 * exited. No imports of ours: token exchange loads it only with
 * `@azure/identity`.
 */
type AdditionalPolicies = NonNullable<import("@azure/identity").TokenCredentialOptions["additionalPolicies"]>;

/**
 * `options` for an `@azure/identity` credential, plus a pipeline policy that
 * gives each of its HTTP requests `timeoutMs` when it has no timeout of its
 * own (see above).
 *
 * @example
 * ```ts
 * new identity.ClientSecretCredential(tenant, client, secret, withRequestTimeout(options, ENTRA_CALL_LIMIT_MS));
 * ```
 */
export function withRequestTimeout<T extends { additionalPolicies?: AdditionalPolicies }>(options: T, timeoutMs: number): T {
  const policy: AdditionalPolicies[number] = {
    position: "perCall",
    policy: {
      name: "azmiRequestTimeout",
      sendRequest(request, next) {
        if (!request.timeout) request.timeout = timeoutMs;
        return next(request);
      },
    },
  };
  return { ...options, additionalPolicies: [...(options.additionalPolicies ?? []), policy] };
}
