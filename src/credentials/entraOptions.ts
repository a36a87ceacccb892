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
