/**
 * `AZURE_TOKEN_CREDENTIALS`: narrows DefaultAzureCredential to `prod`
 * (environment, workload identity, managed identity), `dev` (the developer
 * tools) or one credential by class name. Trimmed and case-insensitive; an
 * invalid value throws at construction with `@azure/identity`'s wording
 * (spec §1.2).
 *
 * @example
 * ```ts
 * parseTokenCredentials(" ManagedIdentityCredential "); // { kind: "single", link: "managed-identity", ... }
 * ```
 */
import { AzmiError, ErrorCode } from "../errors";
import type { LinkName } from "./types";

export const PROD_LINKS: readonly LinkName[] = ["environment", "workload-identity", "managed-identity"];
export const DEV_LINKS: readonly LinkName[] = ["azure-cli", "azure-powershell", "azure-developer-cli"];

/** Lower-cased class names `AZURE_TOKEN_CREDENTIALS` accepts, and the link each selects (`null`: valid, not implemented). */
const SINGLE: Record<string, LinkName | null> = {
  environmentcredential: "environment",
  workloadidentitycredential: "workload-identity",
  managedidentitycredential: "managed-identity",
  visualstudiocodecredential: null,
  azureclicredential: "azure-cli",
  azurepowershellcredential: "azure-powershell",
  azuredeveloperclicredential: "azure-developer-cli",
};

export type TokenCredentialsSelection =
  | { kind: "all" }
  | { kind: "group"; group: "prod" | "dev"; links: readonly LinkName[]; value: string }
  | { kind: "single"; link: LinkName | null; value: string };

/** Parses the variable's value (raw, as read). Unset or blank ⇒ the whole chain. */
export function parseTokenCredentials(raw: string | undefined): TokenCredentialsSelection {
  const value = (raw ?? "").trim();
  const normalized = value.toLowerCase();
  if (normalized === "") return { kind: "all" };
  if (normalized === "prod") return { kind: "group", group: "prod", links: PROD_LINKS, value };
  if (normalized === "dev") return { kind: "group", group: "dev", links: DEV_LINKS, value };
  if (Object.prototype.hasOwnProperty.call(SINGLE, normalized)) return { kind: "single", link: SINGLE[normalized]!, value };
  throw new AzmiError(
    ErrorCode.InvalidEnvironment,
    `Invalid value for AZURE_TOKEN_CREDENTIALS = ${raw}. Valid values are 'prod' or 'dev' or any of these credentials - EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, VisualStudioCodeCredential, AzureCliCredential, AzurePowerShellCredential, AzureDeveloperCliCredential. (@azure/identity's wording; azmi's chain has no VisualStudioCodeCredential.)`,
  );
}
