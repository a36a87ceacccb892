/**
 * Azure Arc dialect (IDENTITY_ENDPOINT + IMDS_ENDPOINT; 401 challenge naming a
 * key file, then `Authorization: Basic <file contents>`) with the real .NET,
 * Python and JS clients.
 *
 * MSAL.NET and MSAL JS only read key files from `/var/opt/azcmagent/tokens`,
 * so the spec creates that folder when it is missing (we are root in CI) and
 * removes only the empty folders it created. Python 1.13 reads whatever file
 * the realm names and uses api-version 2019-11-01 (the server accepts both).
 * Both .NET and Python refuse user-assigned identities for Arc (asserted).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { describeRun, ROOT, runClient, UAMI, useServedClients, VAULT, ARM, type ClientRun } from "./support";

const ARC_DIR = "/var/opt/azcmagent/tokens";
const DLL = path.join(ROOT, "test", "clients", "dotnet", "bin", "Release", "net10.0", "AzmiClient.dll");
const PY_SCRIPT = path.join(ROOT, "test", "clients", "python", "get_token.py");
const JS_SCRIPT = path.join(ROOT, "dist", "test", "clients", "node", "getToken.js");

describe("clients: Azure Arc dialect (.NET, Python, @azure/identity) against azmi serve", function () {
  this.timeout(120_000); // generous: a loaded 2-core machine; each client run is killed after 90 s anyway
  let createdTop: string | undefined;
  before(() => {
    if (fs.existsSync(ARC_DIR)) return;
    let top = ARC_DIR;
    while (!fs.existsSync(path.dirname(top))) top = path.dirname(top);
    fs.mkdirSync(ARC_DIR, { recursive: true, mode: 0o700 });
    createdTop = top;
  });
  // Registered after the folder hook, so the server starts with Arc enabled (and closes, removing its key files, first).
  const h = useServedClients();
  after(() => {
    if (createdTop === undefined) return;
    for (let dir = ARC_DIR; dir.length >= createdTop.length; dir = path.dirname(dir)) {
      try {
        fs.rmdirSync(dir); // only empty folders: never another suite's key files
      } catch {
        break;
      }
    }
  });

  const arc = (): Record<string, string> => {
    // Other suites share (and may remove) the folder between our hooks; the server needs it at request time.
    fs.mkdirSync(ARC_DIR, { recursive: true, mode: 0o700 });
    assert.ok(h.server.dialects.azureArc, `Arc dialect disabled: ${h.server.arcDisabledReason}`);
    return h.server.dialects.azureArc;
  };
  const system = () => ({ clientId: h.server.systemClientId });
  const dotnet = (...args: string[]): Promise<ClientRun> => runClient("dotnet", [DLL, ...args], h.env(arc()));
  const py = (...args: string[]): Promise<ClientRun> => runClient("/usr/bin/python3", [PY_SCRIPT, ...args], h.env(arc()));
  const js = (...args: string[]): Promise<ClientRun> => runClient(process.execPath, [JS_SCRIPT, ...args], h.env(arc()));

  it(".NET ManagedIdentityCredential, system-assigned", async () => {
    await h.expectToken(await dotnet("mi", VAULT), { resource: VAULT, ...system() });
  });
  it(".NET DefaultAzureCredential", async () => {
    await h.expectToken(await dotnet("dac", ARM), { resource: ARM, ...system() });
  });
  it("limitation: .NET refuses user-assigned identities for Arc", async () => {
    const run = await dotnet("mi-client-id", VAULT, UAMI.clientId);
    assert.equal(run.status, 1, describeRun(run));
    assert.equal(run.json?.type, "Azure.Identity.AuthenticationFailedException", describeRun(run));
    assert.match(run.json?.error ?? "", /User-assigned managed identity is not supported by the detected managed identity environment/, describeRun(run));
  });
  it("Python ManagedIdentityCredential, system-assigned", async () => {
    await h.expectToken(await py("mi", VAULT), { resource: VAULT, ...system() });
  });
  it("Python DefaultAzureCredential", async () => {
    await h.expectToken(await py("dac", ARM), { resource: ARM, ...system() });
  });
  it("limitation: Python refuses user-assigned identities for Arc", async () => {
    const run = await py("mi-client-id", VAULT, UAMI.clientId);
    assert.equal(run.status, 1, describeRun(run));
    assert.equal(run.json?.type, "azure.core.exceptions.ClientAuthenticationError", describeRun(run));
    assert.match(run.json?.error ?? "", /^User assigned managed identities are not supported by Azure Arc\./, describeRun(run));
  });
  it("@azure/identity DefaultAzureCredential", async () => {
    await h.expectToken(await js("dac", VAULT), { resource: VAULT, ...system() });
  });
  it("@azure/identity ManagedIdentityCredential({ clientId }) (MSAL JS 7 forwards it; the server echoes it)", async () => {
    await h.expectToken(await js("mi-client-id", VAULT, UAMI.clientId), { resource: VAULT, ...UAMI });
  });
});
