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
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { SecretClient } from "@azure/keyvault-secrets";
import { DefaultAzureCredential } from "../../src/credentials/defaultAzureCredential";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { loopbackTls, startEntraFake, type EntraFake } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { startImdsFake, tempDir, useLoopbackGuard, useTempAzmiHome, type ImdsFake } from "../credentials/support";

interface VaultFake {
  url: string;
  /** Which bearer tokens the vault accepts (set by the test: tokens the identity fakes issued). */
  accepts: (token: string) => boolean;
  requests: Array<{ path: string; authorization?: string }>;
  close(): Promise<void>;
}

async function startVaultFake(tenant: string): Promise<VaultFake> {
  const tls = loopbackTls();
  const fake: VaultFake = { url: "", accepts: () => false, requests: [], close: async () => undefined };
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume();
    req.on("end", () => {
      const url = new URL(req.url ?? "/", fake.url);
      fake.requests.push({ path: url.pathname, authorization: req.headers.authorization });
      const auth = req.headers.authorization ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      if (!token || !fake.accepts(token)) {
        res.writeHead(401, {
          "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${tenant}", resource="https://vault.azure.net"`,
          "content-type": "application/json",
        });
        return res.end(JSON.stringify({ error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } }));
      }
      const match = /^\/secrets\/([^/]+)\/?$/.exec(url.pathname);
      if (req.method !== "GET" || !match) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { code: "NotFound", message: "no such route" } }));
      }
      const body = JSON.stringify({
        value: `value-of-${match[1]}`,
        id: `${fake.url}/secrets/${match[1]}/0123456789abcdef0123456789abcdef`,
        attributes: { enabled: true, created: 1700000000, updated: 1700000000, recoveryLevel: "Recoverable+Purgeable" },
        tags: {},
      });
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve())));
  return fake;
}

describe("Azure SDK client proof: @azure/keyvault-secrets SecretClient with azmi credentials", function () {
  const env = useCleanEnv();
  useTempAzmiHome();
  useLoopbackGuard();
  let entra: EntraFake;
  let vault: VaultFake;
  let imds: ImdsFake;
  let dir: string;
  const SECRET = "kv-proof-client-secret-value-42";

  before(async () => {
    dir = tempDir();
    entra = await startEntraFake({ clients: { "kv-app": { secret: SECRET } } });
    vault = await startVaultFake(entra.tenant);
    imds = await startImdsFake();
    vault.accepts = (token) => imds.issued.includes(token) || entra.issued.includes(token);
  });
  after(async () => {
    await Promise.all([entra.close(), vault.close(), imds.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const clientOptions = () => ({ agent: new https.Agent({ ca: loopbackTls().cert }), disableChallengeResourceVerification: true });

  it("DefaultAzureCredential (managed identity via a loopback IMDS) gets a secret", async () => {
    const credential = new DefaultAzureCredential({ env: { PATH: dir, AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url } });
    const client = new SecretClient(vault.url, credential, clientOptions());
    const secret = await client.getSecret("db-password");
    assert.equal(secret.value, "value-of-db-password");
    assert.equal(secret.name, "db-password");
    const authed = vault.requests.filter((r) => r.authorization);
    assert.equal(authed.at(-1)!.authorization, `Bearer ${imds.issued.at(-1)}`);
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
    const client = new SecretClient(vault.url, credential, clientOptions());
    const secret = await client.getSecret("api-key");
    assert.equal(secret.value, "value-of-api-key");
    assert.equal(entra.issued.length, before + 1);
    const post = entra.tokenRequests().at(-1)!;
    assert.equal(post.form.scope, "https://vault.azure.net/.default");
    assert.equal(post.tenant, entra.tenant);
    assert.equal(vault.requests.at(-1)!.authorization, `Bearer ${entra.issued.at(-1)}`);
  });
});
