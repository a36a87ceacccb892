/**
 * Proof that azmi credentials are plain `TokenCredential`s any Azure SDK
 * client accepts: the real `@azure/keyvault-secrets` SecretClient, against a
 * Key Vault fake over HTTPS on 127.0.0.1 (self-signed certificate trusted
 * through the client's `agent` pipeline option). The client runs Key Vault's
 * challenge flow (401 + WWW-Authenticate, then getToken with the challenge's
 * scope and tenant) and must present exactly the token our credential got.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { SecretClient } from "@azure/keyvault-secrets";
import { DefaultAzureCredential } from "../../src/credentials/defaultAzureCredential";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { startEntraFake, type EntraFake } from "../fakes/entra";
import { startKeyVaultFake, type KeyVaultFake } from "../fakes/keyVault";
import { useCleanEnv } from "../support/env";
import { startImdsFake, tempDir, useLoopbackGuard, useTempAzmiHome, type ImdsFake } from "../credentials/support";

describe("Azure SDK client proof: @azure/keyvault-secrets SecretClient with azmi credentials", function () {
  const env = useCleanEnv();
  useTempAzmiHome();
  useLoopbackGuard();
  let entra: EntraFake;
  let vault: KeyVaultFake;
  let imds: ImdsFake;
  let dir: string;
  const SECRET = "kv-proof-client-secret-value-42";

  before(async () => {
    dir = tempDir();
    entra = await startEntraFake({ clients: { "kv-app": { secret: SECRET } } });
    vault = await startKeyVaultFake({ tenant: entra.tenant });
    imds = await startImdsFake();
    vault.verdict = (token) => (imds.issued.includes(token) || entra.issued.includes(token) ? "ok" : "unknown");
  });
  after(async () => {
    await Promise.all([entra.close(), vault.close(), imds.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("DefaultAzureCredential (managed identity via a loopback IMDS) gets a secret", async () => {
    const credential = new DefaultAzureCredential({ env: { PATH: dir, AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url } });
    const client = new SecretClient(vault.url, credential, vault.clientOptions());
    const secret = await client.getSecret("db-password");
    assert.equal(secret.value, "value-of-db-password");
    assert.equal(secret.name, "db-password");
    const authed = vault.requests.filter((r) => r.token);
    assert.equal(authed.at(-1)!.token, imds.issued.at(-1));
    // a second read reuses the cached token: no new IMDS request
    const n = imds.requests.length;
    await client.getSecret("db-password");
    assert.equal(imds.requests.length, n);
    assert.match(imds.requests.at(-1)!.url, /resource=https%3A%2F%2Fvault\.azure\.net(&|$)/);
    assert.equal(credential.lastReport!.winner, "managed-identity");
  });

  it("EnvironmentCredential (client secret against the Entra HTTPS fake) gets a secret; tenant from the challenge", async () => {
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "kv-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new EnvironmentCredential({ agent: entra.agent() });
    const before = entra.issued.length;
    const client = new SecretClient(vault.url, credential, vault.clientOptions());
    const secret = await client.getSecret("api-key");
    assert.equal(secret.value, "value-of-api-key");
    assert.equal(entra.issued.length, before + 1);
    const post = entra.tokenRequests().at(-1)!;
    assert.equal(post.form.scope, "https://vault.azure.net/.default");
    assert.equal(post.tenant, entra.tenant);
    assert.equal(vault.requests.at(-1)!.token, entra.issued.at(-1));
  });
});
