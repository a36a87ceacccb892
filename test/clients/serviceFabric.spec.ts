/**
 * Service Fabric dialect (IDENTITY_ENDPOINT + IDENTITY_HEADER +
 * IDENTITY_SERVER_THUMBPRINT) against azmi serve's Service Fabric-shaped path.
 *
 * The server publishes no variables for it (real clusters serve HTTPS with a
 * cluster certificate the client pins by thumbprint; azmi serve is plain
 * HTTP). Over plain HTTP there is no certificate to pin, and the real .NET,
 * Python and JS clients then accept the endpoint as it is — which this spec
 * proves, with the thumbprint variable set only because it selects the source.
 */
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { SERVICE_FABRIC_PATH } from "../../src/serve/serviceFabric";
import { describeRun, ROOT, runClient, UAMI, useServedClients, VAULT, ARM, type ClientRun } from "./support";

const DLL = path.join(ROOT, "test", "clients", "dotnet", "bin", "Release", "net10.0", "AzmiClient.dll");
const PY_SCRIPT = path.join(ROOT, "test", "clients", "python", "get_token.py");
const JS_SCRIPT = path.join(ROOT, "dist", "test", "clients", "node", "getToken.js");
/** Any SHA-1 hex: it only selects the Service Fabric source; plain HTTP has no certificate to compare it with. */
const THUMBPRINT = "0123456789ABCDEF0123456789ABCDEF01234567";

describe("clients: Service Fabric dialect over plain HTTP (.NET, Python, @azure/identity) against azmi serve", function () {
  this.timeout(120_000); // generous: a loaded 2-core machine; each client run is killed after 90 s anyway
  const h = useServedClients();

  const sf = (): Record<string, string> => ({
    IDENTITY_ENDPOINT: `${h.server.url}${SERVICE_FABRIC_PATH}`,
    IDENTITY_HEADER: h.server.dialects.appService.IDENTITY_HEADER!,
    IDENTITY_SERVER_THUMBPRINT: THUMBPRINT,
  });
  const system = () => ({ clientId: h.server.systemClientId });
  const dotnet = (...args: string[]): Promise<ClientRun> => runClient("dotnet", [DLL, ...args], h.env(sf()));
  const py = (...args: string[]): Promise<ClientRun> => runClient("/usr/bin/python3", [PY_SCRIPT, ...args], h.env(sf()));
  const js = (...args: string[]): Promise<ClientRun> => runClient(process.execPath, [JS_SCRIPT, ...args], h.env(sf()));

  it(".NET ManagedIdentityCredential, system-assigned", async () => {
    await h.expectToken(await dotnet("mi", VAULT), { resource: VAULT, ...system() });
  });
  it(".NET DefaultAzureCredential", async () => {
    await h.expectToken(await dotnet("dac", ARM), { resource: ARM, ...system() });
  });
  it("limitation: .NET refuses user-assigned identities for Service Fabric", async () => {
    const run = await dotnet("mi-client-id", VAULT, UAMI.clientId);
    assert.equal(run.status, 1, describeRun(run));
    assert.equal(run.json?.type, "Azure.Identity.AuthenticationFailedException", describeRun(run));
    assert.match(run.json?.error ?? "", /^Specifying a clientId or resourceId is not supported by the Service Fabric managed identity environment\./, describeRun(run));
    h.expectNoSecrets(run);
  });
  it("Python ManagedIdentityCredential, system-assigned", async () => {
    await h.expectToken(await py("mi", VAULT), { resource: VAULT, ...system() });
  });
  it("Python ManagedIdentityCredential(client_id=…): Python forwards client_id, which Service Fabric does not read — the cluster's identity comes back", async () => {
    // Service Fabric selects identities by cluster configuration (only MSAL.NET sends principalId); the server
    // ignores client_id here as the platform does, so the token is the system-assigned one.
    await h.expectToken(await py("mi-client-id", VAULT, UAMI.clientId), { resource: VAULT, ...system() });
  });
  it("Python DefaultAzureCredential", async () => {
    await h.expectToken(await py("dac", ARM), { resource: ARM, ...system() });
  });
  it("@azure/identity DefaultAzureCredential", async () => {
    await h.expectToken(await js("dac", VAULT), { resource: VAULT, ...system() });
  });
});
