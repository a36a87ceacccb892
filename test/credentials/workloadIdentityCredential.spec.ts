import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ENTRA_CALL_LIMIT_MS } from "../../src/credentials/delegated";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { WorkloadIdentityCredential } from "../../src/credentials/workloadIdentityCredential";
import { ErrorCode } from "../../src/errors";
import { fakeAccessToken, startEntraFake, type EntraFake } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { tempDir, useLoopbackGuard } from "./support";

const SCOPE = "https://storage.azure.com/.default";

describe("WorkloadIdentityCredential (Entra HTTPS fake)", function () {
  const env = useCleanEnv();
  useLoopbackGuard();
  let entra: EntraFake;
  let dir: string;
  const federated = fakeAccessToken({ iss: "https://oidc.example", sub: "system:serviceaccount:default:app", aud: "api://AzureADTokenExchange" });

  before(async () => {
    dir = tempDir();
    entra = await startEntraFake({ clients: { "wi-app": { federatedToken: federated } } });
  });
  after(async () => {
    await entra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => entra.requests.splice(0));

  it("sends the trimmed token file as client_assertion (checklist 69) and returns the token", async () => {
    const file = path.join(dir, "token");
    fs.writeFileSync(file, `  ${federated}\n`);
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "wi-app", AZURE_FEDERATED_TOKEN_FILE: file, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true, agent: entra.agent() });
    const token = await credential.getToken(SCOPE);
    assert.equal(token.token, entra.issued.at(-1));
    assert.equal(token.clientId, "wi-app");
    const [post] = entra.tokenRequests();
    assert.equal(post!.form.client_assertion, federated);
    assert.equal(post!.form.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    assert.equal(post!.form.client_id, "wi-app");
  });

  it("options override the environment", async () => {
    const file = path.join(dir, "token2");
    fs.writeFileSync(file, federated);
    env.set({ AZURE_TENANT_ID: "other-tenant", AZURE_CLIENT_ID: "other-app", AZURE_FEDERATED_TOKEN_FILE: "/nonexistent", AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new WorkloadIdentityCredential({
      tenantId: entra.tenant, clientId: "wi-app", tokenFilePath: file, disableInstanceDiscovery: true, agent: entra.agent(),
    });
    await credential.getToken(SCOPE);
    assert.equal(entra.tokenRequests()[0]!.tenant, entra.tenant);
  });

  it("missing settings ⇒ unavailable naming them, no request", async () => {
    env.set({ AZURE_CLIENT_ID: "wi-app" });
    await assert.rejects(new WorkloadIdentityCredential().getToken(SCOPE), (e: Error & { code: string; reason: string }) => {
      assert.equal(e.name, "CredentialUnavailableError");
      assert.equal(e.code, ErrorCode.CredentialUnavailable);
      assert.equal(e.reason, "AZURE_TENANT_ID/AZURE_FEDERATED_TOKEN_FILE not set");
      return true;
    });
    assert.equal(entra.requests.length, 0);
  });

  it("assertion rejected by Entra ⇒ unavailable, so a chain moves on (checklist 61)", async () => {
    const file = path.join(dir, "bad");
    fs.writeFileSync(file, fakeAccessToken({ sub: "someone-else" }));
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "wi-app", AZURE_FEDERATED_TOKEN_FILE: file, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new WorkloadIdentityCredential({ disableInstanceDiscovery: true, agent: entra.agent() });
    await assert.rejects(credential.getToken(SCOPE), (e: Error & { code: string; reason: string }) => {
      assert.equal(e.name, "CredentialUnavailableError");
      assert.match(e.reason, /^Entra ID did not issue a token \(invalid_client: /);
      assert.ok(!e.message.includes("eyJ"), "no JWT in the message");
      return true;
    });
    assert.equal(entra.tokenRequests().length, 1);
  });

  it("an authority that accepts the connection and never answers: unavailable at the link's limit (30 s; a caller's longer timeout waits longer), not never", async function () {
    // MSAL sends its requests without a timeout: before, the call (and a
    // DefaultAzureCredential behind it) waited for good. The limit is
    // shortened in the child (entraLimitChild.ts), the rest is real.
    this.timeout(30_000);
    const environment = new EnvironmentCredential({ env: {} }) as unknown as { callLimitMs(): number };
    assert.equal(environment.callLimitMs(), ENTRA_CALL_LIMIT_MS, "EnvironmentCredential, the other Entra ID flow, has the same limit");
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const file = path.join(dir, "token-silent");
    fs.writeFileSync(file, federated);
    try {
      for (const [timeout, limit] of [[undefined, 1_000], [2_000, 2_000]] as const) {
        const env = {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AZMI_HOME: dir,
          AZURE_TENANT_ID: entra.tenant,
          AZURE_CLIENT_ID: "wi-app",
          AZURE_FEDERATED_TOKEN_FILE: file,
          AZURE_AUTHORITY_HOST: `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
          LIMIT_MS: "1000",
          ...(timeout ? { TIMEOUT_MS: String(timeout) } : {}),
        };
        const child = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
          execFile(process.execPath, [path.join(__dirname, "entraLimitChild.js")], { env, timeout: 25_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr })),
        );
        const out = JSON.parse(child.stdout.trim() || "{}") as { ok?: boolean; name?: string; code?: string; message?: string; ms?: number; ownLimit?: number; entraLimit?: number };
        assert.equal(out.ok, false, child.stdout + child.stderr);
        assert.equal(out.ownLimit, ENTRA_CALL_LIMIT_MS, "the real link's own limit");
        assert.equal(out.name, "CredentialUnavailableError", out.message);
        assert.equal(out.code, ErrorCode.Timeout);
        assert.equal(out.message, `WorkloadIdentityCredential: Entra ID did not answer within ${limit} ms; check AZURE_AUTHORITY_HOST and the network path to it (a proxy or firewall that drops the traffic). A longer requestOptions.timeout waits longer.`);
        assert.ok(out.ms! >= limit - 50 && out.ms! < limit + 2_000, `ended after ${Math.round(out.ms!)} ms, limit ${limit} ms`);
      }
      assert.ok(sockets.length > 0, "the authority was asked");
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("non-https authority host is rejected", () => {
    env.set({ AZURE_TENANT_ID: "contoso", AZURE_CLIENT_ID: "a", AZURE_FEDERATED_TOKEN_FILE: "/x", AZURE_AUTHORITY_HOST: "http://login.example" });
    assert.throws(() => new WorkloadIdentityCredential(), /The authorityHost address must use the 'https' protocol\./);
  });
});
