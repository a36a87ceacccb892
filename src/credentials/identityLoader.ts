/**
 * Loads `@azure/identity` on first use only. Importing it costs ~100–200 ms
 * (MSAL, core-rest-pipeline), which a user whose token comes from managed
 * identity should never pay; Entra and developer-tool links call this inside
 * `getToken`.
 *
 * @example
 * ```ts
 * const { ClientSecretCredential } = loadAzureIdentity();
 * ```
 */
import type * as AzureIdentity from "@azure/identity";

export type AzureIdentityModule = typeof AzureIdentity;

let loaded: AzureIdentityModule | undefined;

/** The `@azure/identity` module, required on first call and cached. */
export function loadAzureIdentity(): AzureIdentityModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require("@azure/identity") as AzureIdentityModule;
  return loaded;
}

/** Whether `@azure/identity` has been loaded in this process (for the import bench and tests). */
export function isAzureIdentityLoaded(): boolean {
  return loaded !== undefined;
}
