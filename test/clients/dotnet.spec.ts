/**
 * The real .NET Azure.Identity 1.21.0 (NuGet; test/clients/dotnet) gets
 * tokens from `azmi serve` in each dialect it supports, unchanged; each token
 * is verified against the served JWKS with the selected identity's claims.
 *
 * .NET facts these cases pin down (protocol.md §11.6, observed here):
 * - ManagedIdentityCredential with AZURE_POD_IDENTITY_AUTHORITY_HOST sends no
 *   probe and works; DefaultAzureCredential probes first and treats the probe's
 *   400 as "IMDS present" only at 169.254.169.254, so its default chain cannot
 *   use the IMDS override — unless AZURE_TOKEN_CREDENTIALS names
 *   ManagedIdentityCredential alone (no probe then).
 * - MSAL.NET's Machine Learning source (MSI_ENDPOINT + MSI_SECRET) needs
 *   DEFAULT_IDENTITY_CLIENT_ID for system-assigned and takes only client ids.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { ARM, describeRun, ROOT, runClient, UAMI, useServedClients, VAULT, type ClientRun } from "./support";

const PROJECT = path.join(ROOT, "test", "clients", "dotnet", "AzmiClient.csproj");
const DLL = path.join(ROOT, "test", "clients", "dotnet", "bin", "Release", "net10.0", "AzmiClient.dll");

describe("clients: .NET Azure.Identity against azmi serve", function () {
  this.timeout(120_000); // generous: a loaded 2-core machine; each client run is killed after 90 s anyway
  const h = useServedClients();

  before(function (done) {
    // Build once (incremental; scripts/setup-clients.sh restored and built it), then run the dll per case.
    // --no-restore: the packages were restored by setup-clients.sh; the test never reaches NuGet.
    this.timeout(180_000);
    execFile(
      "dotnet",
      ["build", PROJECT, "-c", "Release", "--nologo", "-v", "quiet", "--no-restore"],
      { env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1" } },
      (error, stdout, stderr) => done(error ? new Error(`dotnet build failed (run scripts/setup-clients.sh): ${stdout}${stderr}`) : undefined),
    );
  });

  const dotnet = (vars: Record<string, string>, ...args: string[]): Promise<ClientRun> =>
    runClient("dotnet", [DLL, ...args], h.env(vars));
  const system = () => ({ clientId: h.server.systemClientId });

  describe("IMDS dialect (AZURE_POD_IDENTITY_AUTHORITY_HOST)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await dotnet(h.server.dialects.imds, "mi", ARM), { resource: ARM, ...system() });
    });
    it("ManagedIdentityCredential, user-assigned by client id", async () => {
      const run = await dotnet(h.server.dialects.imds, "mi-client-id", VAULT, UAMI.clientId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential, user-assigned by object id", async () => {
      const run = await dotnet(h.server.dialects.imds, "mi-object-id", VAULT, UAMI.objectId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential, user-assigned by resource id", async () => {
      const run = await dotnet(h.server.dialects.imds, "mi-resource-id", VAULT, UAMI.resourceId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("DefaultAzureCredential with AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential (no probe)", async () => {
      const run = await dotnet({ ...h.server.dialects.imds, AZURE_TOKEN_CREDENTIALS: "ManagedIdentityCredential" }, "dac", ARM);
      await h.expectToken(run, { resource: ARM, ...system() });
    });
    it("limitation: DefaultAzureCredential's probe takes a 400 as 'no IMDS' away from 169.254.169.254", async () => {
      // prod = Environment, WorkloadIdentity, ManagedIdentity: nothing here reaches beyond loopback.
      const run = await dotnet({ ...h.server.dialects.imds, AZURE_TOKEN_CREDENTIALS: "prod" }, "dac", ARM);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "Azure.Identity.CredentialUnavailableException", describeRun(run));
      assert.match(run.json?.error ?? "", /ManagedIdentityCredential authentication unavailable\. No identity has been assigned to this resource\.|ManagedIdentityCredential authentication unavailable\. The requested identity has not been assigned to this resource\./);
      assert.match(run.json?.error ?? "", /Status: 400/);
      h.expectNoSecrets(run);
    });
  });

  describe("App Service dialect (IDENTITY_ENDPOINT + IDENTITY_HEADER)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await dotnet(h.server.dialects.appService, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("ManagedIdentityCredential, user-assigned by client id", async () => {
      const run = await dotnet(h.server.dialects.appService, "mi-client-id", VAULT, UAMI.clientId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential, user-assigned by object id", async () => {
      const run = await dotnet(h.server.dialects.appService, "mi-object-id", VAULT, UAMI.objectId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential, user-assigned by resource id", async () => {
      const run = await dotnet(h.server.dialects.appService, "mi-resource-id", VAULT, UAMI.resourceId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("DefaultAzureCredential (default chain, nothing excluded)", async () => {
      await h.expectToken(await dotnet(h.server.dialects.appService, "dac", ARM), { resource: ARM, ...system() });
    });
    it("DefaultAzureCredential with ManagedIdentityClientId", async () => {
      const run = await dotnet(h.server.dialects.appService, "dac-client-id", ARM, UAMI.clientId);
      await h.expectToken(run, { resource: ARM, ...UAMI });
    });
    it("a wrong IDENTITY_HEADER is refused, and no secret appears in what .NET prints", async () => {
      const wrong = "azmi-wrong-identity-header-0123456789";
      const run = await dotnet({ ...h.server.dialects.appService, IDENTITY_HEADER: wrong }, "mi", VAULT);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "Azure.Identity.AuthenticationFailedException", describeRun(run));
      assert.match(run.json?.detail ?? "", /The X-IDENTITY-HEADER header does not match IDENTITY_HEADER of this endpoint\./, describeRun(run));
      assert.ok(!run.stdout.includes(wrong) && !run.stderr.includes(wrong), "the server echoed the header it refused");
      h.expectNoSecrets(run);
    });
  });

  describe("Machine Learning dialect (MSI_ENDPOINT + MSI_SECRET + DEFAULT_IDENTITY_CLIENT_ID)", () => {
    it("ManagedIdentityCredential, system-assigned (via DEFAULT_IDENTITY_CLIENT_ID)", async () => {
      await h.expectToken(await dotnet(h.server.dialects.machineLearning, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("ManagedIdentityCredential, user-assigned by client id", async () => {
      const run = await dotnet(h.server.dialects.machineLearning, "mi-client-id", VAULT, UAMI.clientId);
      await h.expectToken(run, { resource: VAULT, ...UAMI });
    });
    it("DefaultAzureCredential", async () => {
      await h.expectToken(await dotnet(h.server.dialects.machineLearning, "dac", VAULT), { resource: VAULT, ...system() });
    });
    it("limitation: without DEFAULT_IDENTITY_CLIENT_ID, MSAL.NET refuses system-assigned", async () => {
      const { DEFAULT_IDENTITY_CLIENT_ID: _omitted, ...vars } = h.server.dialects.machineLearning;
      const run = await dotnet(vars, "mi", VAULT);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "Azure.Identity.AuthenticationFailedException", describeRun(run));
      assert.equal(run.json?.detail, "MsalServiceException: The DEFAULT_IDENTITY_CLIENT_ID environment variable is null.", describeRun(run));
    });
    it("limitation: MSAL.NET's Machine Learning source takes client ids only", async () => {
      const run = await dotnet(h.server.dialects.machineLearning, "mi-object-id", VAULT, UAMI.objectId);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "Azure.Identity.AuthenticationFailedException", describeRun(run));
      assert.equal(run.json?.detail, "MsalServiceException: Only client id is supported for user-assigned managed identity in Machine Learning.", describeRun(run));
    });
  });

  describe("Cloud Shell dialect (MSI_ENDPOINT alone)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await dotnet(h.server.dialects.cloudShell, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("DefaultAzureCredential", async () => {
      await h.expectToken(await dotnet(h.server.dialects.cloudShell, "dac", ARM), { resource: ARM, ...system() });
    });
    it("limitation: Cloud Shell has no user-assigned identities (the client refuses)", async () => {
      const run = await dotnet(h.server.dialects.cloudShell, "mi-client-id", VAULT, UAMI.clientId);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "Azure.Identity.AuthenticationFailedException", describeRun(run));
      assert.match(run.json?.error ?? "", /^ManagedIdentityCredential authentication failed: User-assigned managed identity is not supported by the detected managed identity environment\./, describeRun(run));
      assert.match(run.json?.detail ?? "", /User assigned identity is not supported by the Cloud Shell Managed Identity/, describeRun(run));
    });
  });
});
