/**
 * Options every Entra-backed link accepts: `@azure/identity`'s own
 * `TokenCredentialOptions` (passed through untouched: `httpClient`, `agent`,
 * retry and proxy options…) plus tenant policy and the environment to read.
 *
 * @example
 * ```ts
 * new EnvironmentCredential({ authorityHost: "https://login.microsoftonline.us", env: process.env });
 * ```
 */
import type { TokenCredentialOptions } from "@azure/identity";
import { isLoopbackUrl, resolveAllowedTenants, resolveAuthorityHost } from "./validation";

export interface EntraCredentialOptions extends TokenCredentialOptions {
  /** Extra tenants a token may be requested for (`*` = any). Default: `AZURE_ADDITIONALLY_ALLOWED_TENANTS`. */
  additionallyAllowedTenants?: string[];
  /** Skip Entra instance discovery (needed for private clouds; automatic for loopback authority hosts). */
  disableInstanceDiscovery?: boolean;
  /** Environment to read instead of `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The options to hand to `@azure/identity`: ours removed, resolved values set.
 *
 * @example
 * ```ts
 * new identity.ClientSecretCredential(tenant, app, secret, passThrough(options, { authorityHost }));
 * ```
 */
export function passThrough<T extends EntraCredentialOptions>(
  options: T,
  resolved: { authorityHost?: string; additionallyAllowedTenants?: string[]; disableInstanceDiscovery?: boolean },
): Omit<T, "env"> {
  const { env: _env, ...rest } = options;
  void _env;
  const out = { ...rest } as Omit<T, "env"> & {
    authorityHost?: string;
    additionallyAllowedTenants?: string[];
    disableInstanceDiscovery?: boolean;
  };
  if (resolved.disableInstanceDiscovery !== undefined) out.disableInstanceDiscovery = resolved.disableInstanceDiscovery;
  if (resolved.authorityHost !== undefined) out.authorityHost = resolved.authorityHost;
  if (resolved.additionallyAllowedTenants !== undefined) out.additionallyAllowedTenants = resolved.additionallyAllowedTenants;
  return out;
}

/**
 * Resolve what a configured Entra link hands to `@azure/identity`: the
 * authority host (option, else `AZURE_AUTHORITY_HOST`, else the public
 * cloud; https only), the allowed tenants (option, else
 * `AZURE_ADDITIONALLY_ALLOWED_TENANTS`), and instance discovery off for a
 * loopback authority host unless the caller chose. Call it only once the
 * link is configured: it throws for a bad host.
 *
 * @throws AzmiError `ERR_INVALID_ARGUMENT` for a non-https authority host.
 *
 * @example
 * ```ts
 * const entra = resolveEntraOptions(options, process.env);
 * new identity.ClientSecretCredential(tenant, app, secret, entra.options);
 * ```
 */
export function resolveEntraOptions<T extends EntraCredentialOptions>(
  options: T,
  env: NodeJS.ProcessEnv,
): { authorityHost: string; options: Omit<T, "env"> } {
  const authorityHost = resolveAuthorityHost(options.authorityHost, env);
  return {
    authorityHost,
    options: passThrough(options, {
      authorityHost,
      additionallyAllowedTenants: resolveAllowedTenants(options.additionallyAllowedTenants, env),
      disableInstanceDiscovery: options.disableInstanceDiscovery ?? (isLoopbackUrl(authorityHost) || undefined),
    }),
  };
}
