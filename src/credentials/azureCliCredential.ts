/**
 * `AzureCliCredential`: the user signed in with `az login`; tokens come from
 * `az account get-access-token` (run by `@azure/identity`). Unavailable,
 * without spawning anything, when `az` is not on `PATH`.
 *
 * @example
 * ```ts
 * const token = await new AzureCliCredential().getToken("https://management.azure.com/.default");
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";
import { DeveloperToolCredential, type DeveloperToolCredentialOptions } from "./developerToolCredential";
import type { AzureIdentityModule } from "./identityLoader";

export interface AzureCliCredentialOptions extends DeveloperToolCredentialOptions {
  /** Subscription name or id whose tenant to use. */
  subscription?: string;
}

export class AzureCliCredential extends DeveloperToolCredential {
  readonly credentialName = "AzureCliCredential";
  protected readonly programs = ["az"] as const;
  protected readonly installHint =
    "Install the Azure CLI (https://aka.ms/azure-cli) and run 'az login'.";

  constructor(options: AzureCliCredentialOptions = {}) {
    super(options);
  }

  protected createInner(identity: AzureIdentityModule): TokenCredential {
    return new identity.AzureCliCredential(this.innerOptions());
  }
}
