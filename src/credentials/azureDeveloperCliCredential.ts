/**
 * `AzureDeveloperCliCredential`: the user signed in with `azd auth login`;
 * tokens come from `azd auth token` (run by `@azure/identity`). Unavailable,
 * without spawning anything, when `azd` is not on `PATH`.
 *
 * @example
 * ```ts
 * const token = await new AzureDeveloperCliCredential().getToken("https://management.azure.com/.default");
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";
import { DeveloperToolCredential, type DeveloperToolCredentialOptions } from "./developerToolCredential";
import type { AzureIdentityModule } from "./identityLoader";

export type AzureDeveloperCliCredentialOptions = DeveloperToolCredentialOptions;

export class AzureDeveloperCliCredential extends DeveloperToolCredential {
  readonly credentialName = "AzureDeveloperCliCredential";
  protected readonly programs = ["azd"] as const;
  protected readonly installHint =
    "Install the Azure Developer CLI (https://aka.ms/azure-dev/install) and run 'azd auth login'.";

  constructor(options: AzureDeveloperCliCredentialOptions = {}) {
    super(options);
  }

  protected createInner(identity: AzureIdentityModule): TokenCredential {
    return new identity.AzureDeveloperCliCredential(this.innerOptions());
  }
}
