/**
 * `AzurePowerShellCredential`: the user signed in with `Connect-AzAccount`;
 * tokens come from `Get-AzAccessToken` in `pwsh` (run by `@azure/identity`).
 * Unavailable, without spawning anything, when PowerShell is not on `PATH`.
 *
 * @example
 * ```ts
 * const token = await new AzurePowerShellCredential().getToken("https://management.azure.com/.default");
 * ```
 */
import type { TokenCredential } from "@azure/core-auth";
import { DeveloperToolCredential, type DeveloperToolCredentialOptions } from "./developerToolCredential";
import type { AzureIdentityModule } from "./identityLoader";

export type AzurePowerShellCredentialOptions = DeveloperToolCredentialOptions;

export class AzurePowerShellCredential extends DeveloperToolCredential {
  readonly credentialName = "AzurePowerShellCredential";
  // @azure/identity runs `pwsh`, and on Windows falls back to `powershell`.
  protected readonly programs = process.platform === "win32" ? (["pwsh", "powershell"] as const) : (["pwsh"] as const);
  protected readonly installHint =
    "Install PowerShell 7 (https://aka.ms/powershell) and the Az.Accounts module, then run 'Connect-AzAccount'.";

  constructor(options: AzurePowerShellCredentialOptions = {}) {
    super(options);
  }

  protected createInner(identity: AzureIdentityModule): TokenCredential {
    return new identity.AzurePowerShellCredential(this.innerOptions());
  }
}
