/**
 * `@azure/identity`'s DefaultAzureCredential (the real package, unchanged)
 * gets tokens from `azmi serve` in each dialect, one fresh process per case
 * (MSAL chooses its managed-identity source once per process). The server
 * engineer's suite covers ManagedIdentityCredential in-process; this adds the
 * default chain as users run it, verified against the served JWKS.
 */
import * as path from "node:path";
import { ARM, ROOT, runClient, UAMI, useServedClients, VAULT, type ClientRun } from "./support";

const SCRIPT = path.join(ROOT, "dist", "test", "clients", "node", "getToken.js");

describe("clients: @azure/identity DefaultAzureCredential (child processes) against azmi serve", function () {
  this.timeout(120_000); // generous: a loaded 2-core machine; each client run is killed after 90 s anyway
  const h = useServedClients();

  const js = (vars: Record<string, string>, ...args: string[]): Promise<ClientRun> => runClient(process.execPath, [SCRIPT, ...args], h.env(vars));
  const system = () => ({ clientId: h.server.systemClientId });

  it("App Service dialect: DefaultAzureCredential", async () => {
    await h.expectToken(await js(h.server.dialects.appService, "dac", VAULT), { resource: VAULT, ...system() });
  });
  it("App Service dialect: DefaultAzureCredential({ managedIdentityClientId })", async () => {
    await h.expectToken(await js(h.server.dialects.appService, "dac-client-id", ARM, UAMI.clientId), { resource: ARM, ...UAMI });
  });
  it("IMDS dialect (AZURE_POD_IDENTITY_AUTHORITY_HOST): DefaultAzureCredential", async () => {
    await h.expectToken(await js(h.server.dialects.imds, "dac", ARM), { resource: ARM, ...system() });
  });
  it("IMDS dialect: DefaultAzureCredential({ managedIdentityClientId })", async () => {
    await h.expectToken(await js(h.server.dialects.imds, "dac-client-id", VAULT, UAMI.clientId), { resource: VAULT, ...UAMI });
  });
  it("Machine Learning dialect: DefaultAzureCredential", async () => {
    await h.expectToken(await js(h.server.dialects.machineLearning, "dac", VAULT), { resource: VAULT, ...system() });
  });
  it("Cloud Shell dialect: DefaultAzureCredential", async () => {
    await h.expectToken(await js(h.server.dialects.cloudShell, "dac", ARM), { resource: ARM, ...system() });
  });
});
