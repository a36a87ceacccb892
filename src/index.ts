/**
 * azmi's public API. Importing it loads only the error classes: every
 * credential and helper below is a lazy export, required the first time it
 * is touched, so `require("azmi")` stays in the low milliseconds and a user
 * whose token comes from managed identity never loads `@azure/identity`.
 *
 * @example
 * ```ts
 * import { DefaultAzureCredential, getManagedToken } from "azmi";
 * const credential = new DefaultAzureCredential();
 * const msi = await getManagedToken({ resource: "https://vault.azure.net" });
 * ```
 */
import type * as Chained from "./credentials/chainedTokenCredential";
import type * as Cli from "./credentials/azureCliCredential";
import type * as Dac from "./credentials/defaultAzureCredential";
import type * as Azd from "./credentials/azureDeveloperCliCredential";
import type * as Env from "./credentials/environmentCredential";
import type * as Mi from "./credentials/managedIdentityCredential";
import type * as Msi from "./msi";
import type * as Pwsh from "./credentials/azurePowerShellCredential";
import type * as Wi from "./credentials/workloadIdentityCredential";
import type * as Serve from "./serve/server";
import type * as Btp from "./credentials/bearerTokenProvider";
import type * as Identity from "@azure/identity";

export * from "./errors";
export { LINK_NAMES } from "./credentials/types";
export type {
  AccessToken,
  AzmiAccessToken,
  AzmiGetTokenOptions,
  ChainReport,
  GetTokenOptions,
  IdentitySelector,
  LinkName,
  LinkOutcome,
  LinkReport,
  MsiTokenResponse,
  TokenCredential,
  TokenWithReport,
} from "./credentials/types";
export type {
  DefaultAzureCredentialOptions,
  DefaultAzureCredentialClientIdOptions,
  DefaultAzureCredentialResourceIdOptions,
  DefaultAzureCredentialEnvVars,
} from "./credentials/defaultAzureCredential";
export type {
  ManagedIdentityCredentialOptions,
  ManagedIdentityCredentialClientIdOptions,
  ManagedIdentityCredentialResourceIdOptions,
  ManagedIdentityCredentialObjectIdOptions,
} from "./credentials/managedIdentityCredential";
export type { TokenCredentialOptions } from "@azure/identity";
export type { GetBearerTokenProviderOptions } from "./credentials/bearerTokenProvider";
export type { EnvironmentCredentialOptions } from "./credentials/environmentCredential";
export type { WorkloadIdentityCredentialOptions } from "./credentials/workloadIdentityCredential";
export type { AzureCliCredentialOptions } from "./credentials/azureCliCredential";
export type { AzurePowerShellCredentialOptions } from "./credentials/azurePowerShellCredential";
export type { AzureDeveloperCliCredentialOptions } from "./credentials/azureDeveloperCliCredential";
export type { EntraCredentialOptions } from "./credentials/entraOptions";
export type { GetManagedTokenOptions, DiagnoseResult, ManagedTokenWithReport } from "./msi";
export type { ServeOptions, RunningServer } from "./serve/server";
// The other types @azure/identity exports, so code that imports them keeps compiling.
export type {
  AuthenticationRecord,
  AuthenticationRequiredErrorOptions,
  AuthorityValidationOptions,
  AuthorizationCodeCredentialOptions,
  AzurePipelinesCredentialOptions,
  BrokerAuthOptions,
  BrokerDisabledOptions,
  BrokerEnabledOptions,
  BrokerOptions,
  BrowserCustomizationOptions,
  BrowserLoginStyle,
  ClientAssertionCredentialOptions,
  ClientCertificateCredentialOptions,
  ClientCertificateCredentialPEMConfiguration,
  ClientCertificatePEMCertificate,
  ClientCertificatePEMCertificatePath,
  ClientSecretCredentialOptions,
  CredentialPersistenceOptions,
  DeviceCodeCredentialOptions,
  DeviceCodeInfo,
  DeviceCodePromptCallback,
  ErrorResponse,
  IdentityPlugin,
  InteractiveBrowserCredentialInBrowserOptions,
  InteractiveBrowserCredentialNodeOptions,
  InteractiveCredentialOptions,
  MultiTenantTokenCredentialOptions,
  OnBehalfOfCredentialAssertionOptions,
  OnBehalfOfCredentialCertificateOptions,
  OnBehalfOfCredentialOptions,
  OnBehalfOfCredentialSecretOptions,
  TokenCachePersistenceOptions,
  UsernamePasswordCredentialOptions,
  VisualStudioCodeCredentialOptions,
} from "@azure/identity";

// Lazy value exports: a type of the same name for instances, a getter for the class.
export type DefaultAzureCredential = Dac.DefaultAzureCredential;
export declare const DefaultAzureCredential: typeof Dac.DefaultAzureCredential;
export type ChainedTokenCredential = Chained.ChainedTokenCredential;
export declare const ChainedTokenCredential: typeof Chained.ChainedTokenCredential;
export type ManagedIdentityCredential = Mi.ManagedIdentityCredential;
export declare const ManagedIdentityCredential: typeof Mi.ManagedIdentityCredential;
export type EnvironmentCredential = Env.EnvironmentCredential;
export declare const EnvironmentCredential: typeof Env.EnvironmentCredential;
export type WorkloadIdentityCredential = Wi.WorkloadIdentityCredential;
export declare const WorkloadIdentityCredential: typeof Wi.WorkloadIdentityCredential;
export type AzureCliCredential = Cli.AzureCliCredential;
export declare const AzureCliCredential: typeof Cli.AzureCliCredential;
export type AzurePowerShellCredential = Pwsh.AzurePowerShellCredential;
export declare const AzurePowerShellCredential: typeof Pwsh.AzurePowerShellCredential;
export type AzureDeveloperCliCredential = Azd.AzureDeveloperCliCredential;
export declare const AzureDeveloperCliCredential: typeof Azd.AzureDeveloperCliCredential;
export declare const getBearerTokenProvider: typeof Btp.getBearerTokenProvider;
export declare const getManagedToken: typeof Msi.getManagedToken;
export declare const getManagedTokenWithReport: typeof Msi.getManagedTokenWithReport;
export declare const diagnose: typeof Msi.diagnose;
export declare const toMsiResponse: typeof Msi.toMsiResponse;
export declare const startServer: typeof Serve.startServer;
export declare const readServerState: typeof Serve.readServerState;
export declare const getDefaultAzureCredential: () => Dac.DefaultAzureCredential;

// The rest of @azure/identity's API, passed through (src/credentials/identityExports.ts):
// its own classes and functions, loaded only when used.
export type AuthenticationRequiredError = Identity.AuthenticationRequiredError;
export declare const AuthenticationRequiredError: typeof Identity.AuthenticationRequiredError;
export type AuthorizationCodeCredential = Identity.AuthorizationCodeCredential;
export declare const AuthorizationCodeCredential: typeof Identity.AuthorizationCodeCredential;
export type AzurePipelinesCredential = Identity.AzurePipelinesCredential;
export declare const AzurePipelinesCredential: typeof Identity.AzurePipelinesCredential;
export type ClientAssertionCredential = Identity.ClientAssertionCredential;
export declare const ClientAssertionCredential: typeof Identity.ClientAssertionCredential;
export type ClientCertificateCredential = Identity.ClientCertificateCredential;
export declare const ClientCertificateCredential: typeof Identity.ClientCertificateCredential;
export type ClientSecretCredential = Identity.ClientSecretCredential;
export declare const ClientSecretCredential: typeof Identity.ClientSecretCredential;
export type DeviceCodeCredential = Identity.DeviceCodeCredential;
export declare const DeviceCodeCredential: typeof Identity.DeviceCodeCredential;
export type InteractiveBrowserCredential = Identity.InteractiveBrowserCredential;
export declare const InteractiveBrowserCredential: typeof Identity.InteractiveBrowserCredential;
export type OnBehalfOfCredential = Identity.OnBehalfOfCredential;
export declare const OnBehalfOfCredential: typeof Identity.OnBehalfOfCredential;
export type UsernamePasswordCredential = Identity.UsernamePasswordCredential;
export declare const UsernamePasswordCredential: typeof Identity.UsernamePasswordCredential;
export type VisualStudioCodeCredential = Identity.VisualStudioCodeCredential;
export declare const VisualStudioCodeCredential: typeof Identity.VisualStudioCodeCredential;
export type AzureAuthorityHosts = Identity.AzureAuthorityHosts;
export declare const AzureAuthorityHosts: typeof Identity.AzureAuthorityHosts;
export declare const logger: typeof Identity.logger;
export declare const serializeAuthenticationRecord: typeof Identity.serializeAuthenticationRecord;
export declare const deserializeAuthenticationRecord: typeof Identity.deserializeAuthenticationRecord;
export declare const useIdentityPlugin: typeof Identity.useIdentityPlugin;

/* eslint-disable @typescript-eslint/no-require-imports */
// Static `require`s inside functions: loaded on first use, and visible to the bundler (scripts/bundle.js).
const LAZY: Record<string, () => unknown> = {
  DefaultAzureCredential: () => (require("./credentials/defaultAzureCredential") as typeof import("./credentials/defaultAzureCredential")).DefaultAzureCredential,
  ChainedTokenCredential: () => (require("./credentials/chainedTokenCredential") as typeof import("./credentials/chainedTokenCredential")).ChainedTokenCredential,
  ManagedIdentityCredential: () => (require("./credentials/managedIdentityCredential") as typeof import("./credentials/managedIdentityCredential")).ManagedIdentityCredential,
  EnvironmentCredential: () => (require("./credentials/environmentCredential") as typeof import("./credentials/environmentCredential")).EnvironmentCredential,
  WorkloadIdentityCredential: () => (require("./credentials/workloadIdentityCredential") as typeof import("./credentials/workloadIdentityCredential")).WorkloadIdentityCredential,
  AzureCliCredential: () => (require("./credentials/azureCliCredential") as typeof import("./credentials/azureCliCredential")).AzureCliCredential,
  AzurePowerShellCredential: () => (require("./credentials/azurePowerShellCredential") as typeof import("./credentials/azurePowerShellCredential")).AzurePowerShellCredential,
  AzureDeveloperCliCredential: () => (require("./credentials/azureDeveloperCliCredential") as typeof import("./credentials/azureDeveloperCliCredential")).AzureDeveloperCliCredential,
  getBearerTokenProvider: () => (require("./credentials/bearerTokenProvider") as typeof import("./credentials/bearerTokenProvider")).getBearerTokenProvider,
  getManagedToken: () => (require("./msi") as typeof import("./msi")).getManagedToken,
  getManagedTokenWithReport: () => (require("./msi") as typeof import("./msi")).getManagedTokenWithReport,
  diagnose: () => (require("./msi") as typeof import("./msi")).diagnose,
  toMsiResponse: () => (require("./msi") as typeof import("./msi")).toMsiResponse,
  startServer: () => startServerOnCall,
  readServerState: () => (require("./serve/state") as typeof import("./serve/state")).readServerState,
  getDefaultAzureCredential: () => getDefaultAzureCredentialOnCall,
  AzureAuthorityHosts: () => passed.AzureAuthorityHosts,
};

/** As `@azure/identity`'s: a DefaultAzureCredential with default options (azmi's). */
function getDefaultAzureCredentialOnCall(): Dac.DefaultAzureCredential {
  const { DefaultAzureCredential } = require("./credentials/defaultAzureCredential") as typeof import("./credentials/defaultAzureCredential");
  return new DefaultAzureCredential();
}

/**
 * The pass-through module (small, no imports: loaded at import for its name
 * lists) and one stand-in per name, made on first read, so `azmi.X === azmi.X`.
 */
const passed = require("./credentials/identityExports") as typeof import("./credentials/identityExports");
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}
for (const name of passed.PASSED_THROUGH_CLASSES) LAZY[name] = once(() => passed.passThroughClass(name));
for (const name of passed.PASSED_THROUGH_FUNCTIONS) LAZY[name] = once(() => passed.passThroughFunction(name));
for (const name of passed.PASSED_THROUGH_OBJECTS) LAZY[name] = once(() => passed.passThroughObject(name));

/**
 * `startServer` loads the server (node:http, node:crypto, the issuer: ~11 ms)
 * when called, not when touched: an ES module that imports azmi reads every
 * export at import time (Node's CommonJS interop), and should not pay for a
 * server it never starts.
 */
function startServerOnCall(...args: Parameters<typeof Serve.startServer>): ReturnType<typeof Serve.startServer> {
  return (require("./serve/server") as typeof import("./serve/server")).startServer(...args);
}
for (const [name, load] of Object.entries(LAZY)) {
  Object.defineProperty(exports, name, { enumerable: true, configurable: true, get: load });
}
