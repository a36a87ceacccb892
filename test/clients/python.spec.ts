/**
 * Debian's Python azure.identity (python3-azure, 1.13.0b2, run with
 * /usr/bin/python3) gets tokens from `azmi serve` in each dialect it
 * supports, unchanged; each token is verified against the served JWKS.
 *
 * Python facts (protocol.md §11): no `Metadata` header on MSI_ENDPOINT +
 * MSI_SECRET; Arc api-version 2019-11-01 and any realm file; IMDS probe
 * skipped when AZURE_POD_IDENTITY_AUTHORITY_HOST is set (1.13 reads it as the
 * base URL); `resource` sent unencoded. Every run has the loopback-only
 * network guard on PYTHONPATH, and the spec asserts it never fired.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { ARM, describeRun, ROOT, runClient, UAMI, useServedClients, VAULT, type ClientRun } from "./support";

const PYTHON = "/usr/bin/python3";
const SCRIPT = path.join(ROOT, "test", "clients", "python", "get_token.py");

describe("clients: Python azure.identity (Debian python3-azure) against azmi serve", function () {
  this.timeout(120_000); // generous: a loaded 2-core machine; each client run is killed after 90 s anyway
  const h = useServedClients();

  before(function () {
    if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/setup-clients.sh`);
  });

  const py = (vars: Record<string, string>, ...args: string[]): Promise<ClientRun> => runClient(PYTHON, [SCRIPT, ...args], h.env(vars));
  const system = () => ({ clientId: h.server.systemClientId });

  describe("IMDS dialect (AZURE_POD_IDENTITY_AUTHORITY_HOST)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await py(h.server.dialects.imds, "mi", ARM), { resource: ARM, ...system() });
    });
    it("ManagedIdentityCredential(client_id=…)", async () => {
      await h.expectToken(await py(h.server.dialects.imds, "mi-client-id", VAULT, UAMI.clientId), { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential(identity_config={object_id})", async () => {
      await h.expectToken(await py(h.server.dialects.imds, "mi-config", VAULT, `object_id=${UAMI.objectId}`), { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential(identity_config={msi_res_id})", async () => {
      await h.expectToken(await py(h.server.dialects.imds, "mi-config", VAULT, `msi_res_id=${UAMI.resourceId}`), { resource: VAULT, ...UAMI });
    });
    it("DefaultAzureCredential", async () => {
      await h.expectToken(await py(h.server.dialects.imds, "dac", ARM), { resource: ARM, ...system() });
    });
    it("an identity the server does not know: 400, which Python reports as unavailable", async () => {
      const run = await py(h.server.dialects.imds, "mi-client-id", VAULT, "99999999-9999-4999-8999-999999999999");
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "azure.identity._exceptions.CredentialUnavailableError", describeRun(run));
      assert.equal(run.json?.error, "ManagedIdentityCredential authentication unavailable. The requested identity has not been assigned to this resource.");
    });
    it("DefaultAzureCredential(managed_identity_client_id=…)", async () => {
      await h.expectToken(await py(h.server.dialects.imds, "dac-client-id", ARM, UAMI.clientId), { resource: ARM, ...UAMI });
    });
  });

  describe("App Service dialect (IDENTITY_ENDPOINT + IDENTITY_HEADER)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await py(h.server.dialects.appService, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("ManagedIdentityCredential(client_id=…)", async () => {
      await h.expectToken(await py(h.server.dialects.appService, "mi-client-id", VAULT, UAMI.clientId), { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential(identity_config={object_id})", async () => {
      await h.expectToken(await py(h.server.dialects.appService, "mi-config", VAULT, `object_id=${UAMI.objectId}`), { resource: VAULT, ...UAMI });
    });
    it("ManagedIdentityCredential(identity_config={mi_res_id})", async () => {
      await h.expectToken(await py(h.server.dialects.appService, "mi-config", VAULT, `mi_res_id=${UAMI.resourceId}`), { resource: VAULT, ...UAMI });
    });
    it("DefaultAzureCredential", async () => {
      await h.expectToken(await py(h.server.dialects.appService, "dac", ARM), { resource: ARM, ...system() });
    });
    it("DefaultAzureCredential(managed_identity_client_id=…)", async () => {
      await h.expectToken(await py(h.server.dialects.appService, "dac-client-id", ARM, UAMI.clientId), { resource: ARM, ...UAMI });
    });
  });

  describe("Machine Learning / App Service 2017 dialect (MSI_ENDPOINT + MSI_SECRET)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await py(h.server.dialects.machineLearning, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("ManagedIdentityCredential, system-assigned without DEFAULT_IDENTITY_CLIENT_ID", async () => {
      const { DEFAULT_IDENTITY_CLIENT_ID: _omitted, ...vars } = h.server.dialects.machineLearning;
      await h.expectToken(await py(vars, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("ManagedIdentityCredential(client_id=…)", async () => {
      await h.expectToken(await py(h.server.dialects.machineLearning, "mi-client-id", VAULT, UAMI.clientId), { resource: VAULT, ...UAMI });
    });
    it("DefaultAzureCredential", async () => {
      await h.expectToken(await py(h.server.dialects.machineLearning, "dac", ARM), { resource: ARM, ...system() });
    });
    it("a wrong MSI_SECRET is refused, and no secret appears in what Python prints", async () => {
      const wrong = "azmi-wrong-msi-secret-0123456789";
      const run = await py({ ...h.server.dialects.machineLearning, MSI_SECRET: wrong }, "mi", VAULT);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "azure.core.exceptions.ClientAuthenticationError", describeRun(run));
      assert.match(run.json?.error ?? "", /The secret header does not match MSI_SECRET of this endpoint\./, describeRun(run));
      assert.ok(!run.stdout.includes(wrong) && !run.stderr.includes(wrong), "the server echoed the secret it refused");
      h.expectNoSecrets(run);
    });
  });

  describe("Cloud Shell dialect (MSI_ENDPOINT alone)", () => {
    it("ManagedIdentityCredential, system-assigned", async () => {
      await h.expectToken(await py(h.server.dialects.cloudShell, "mi", VAULT), { resource: VAULT, ...system() });
    });
    it("DefaultAzureCredential", async () => {
      await h.expectToken(await py(h.server.dialects.cloudShell, "dac", ARM), { resource: ARM, ...system() });
    });
    it("limitation: Cloud Shell has no user-assigned identities (the server refuses)", async () => {
      const run = await py(h.server.dialects.cloudShell, "mi-client-id", VAULT, UAMI.clientId);
      assert.equal(run.status, 1, describeRun(run));
      assert.equal(run.json?.type, "azure.core.exceptions.ClientAuthenticationError", describeRun(run));
      assert.match(run.json?.error ?? "", /^\(BadRequest\) User-assigned managed identities are not supported in Cloud Shell; omit client_id, object_id and msi_res_id\./, describeRun(run));
      h.expectNoSecrets(run);
    });
  });
});
