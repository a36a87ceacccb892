/**
 * Scope → resource, the way every managed-identity client does it (spec §4.2,
 * checklist 1–4): exactly one scope; a trailing `/.default` suffix is removed
 * (only as a suffix), nothing else changes.
 *
 * @example
 * ```ts
 * scopeToResource("https://management.azure.com/.default");  // "https://management.azure.com"
 * scopeToResource("https://management.azure.com//.default"); // "https://management.azure.com/"
 * scopeToResource("https://vault.azure.net");                // unchanged
 * ```
 */
import { loneSurrogateAt, loneSurrogateFlaw } from "../credentials/validation";
import { CredentialUnavailableError, ErrorCode } from "../errors";

const DEFAULT_SUFFIX = "/.default";

/**
 * The resource for one scope (suffix `/.default` removed).
 *
 * @example
 * ```ts
 * scopeToResource("https://vault.azure.net/.default"); // "https://vault.azure.net"
 * ```
 */
export function scopeToResource(scope: string): string {
  return scope.endsWith(DEFAULT_SUFFIX) ? scope.slice(0, -DEFAULT_SUFFIX.length) : scope;
}

/**
 * The single resource a managed-identity request is for. Multiple scopes ⇒
 * `CredentialUnavailableError` with @azure/identity's exact message, before
 * any request is made; an empty or non-string scope ⇒ `TypeError`.
 */
export function resourceForScopes(scopes: string | string[]): string {
  const list = typeof scopes === "string" ? [scopes] : scopes;
  if (!Array.isArray(list) || list.length === 0 || list.some((s) => typeof s !== "string" || s.trim() === "")) {
    throw new TypeError(
      "ManagedIdentityCredential: 'scopes' must be one non-empty string such as 'https://management.azure.com/.default'.",
    );
  }
  if (list.length > 1) {
    throw new CredentialUnavailableError(
      `ManagedIdentityCredential: Multiple scopes are not supported. Scopes: ${JSON.stringify(list)}`,
      { code: ErrorCode.MiMultipleScopes },
    );
  }
  // Refused here, before any request: encoding it for the request would
  // throw a bare URIError, and a chain that knows no route to the endpoint
  // (exchange.ts) would answer "no managed identity" instead.
  const half = loneSurrogateAt(list[0]!);
  if (half >= 0) {
    throw new TypeError(
      `ManagedIdentityCredential: the scope ${loneSurrogateFlaw(list[0]!, half)}. Pass one well-formed scope such as 'https://management.azure.com/.default'.`,
    );
  }
  return scopeToResource(list[0]!);
}
