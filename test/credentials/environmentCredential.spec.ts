import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { decodeProtectedHeader, decodeJwt } from "jose";
import { EnvironmentCredential } from "../../src/credentials/environmentCredential";
import { ErrorCode } from "../../src/errors";
import { clientCertificatePem, startEntraFake, type EntraFake } from "../fakes/entra";
import { useCleanEnv } from "../support/env";
import { captureLogs, tempDir, useLoopbackGuard } from "./support";

const SECRET = "fake-client-secret-value-0123456789";
const SCOPE = "https://vault.azure.net/.default";

describe("EnvironmentCredential (Entra HTTPS fake, real @azure/identity underneath)", function () {
  const env = useCleanEnv();
  useLoopbackGuard();
  let entra: EntraFake;
  let dir: string;
  let cert: ReturnType<typeof clientCertificatePem>;

  before(async () => {
    dir = tempDir();
    cert = clientCertificatePem(dir);
    entra = await startEntraFake({
      clients: {
        "secret-app": { secret: SECRET },
        "cert-app": { certificateThumbprintSha256: cert.thumbprintSha256 },
      },
    });
  });
  after(async () => {
    await entra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => entra.requests.splice(0));

  const options = () => ({ disableInstanceDiscovery: true, agent: entra.agent() });

  it("client secret: token from Entra, form fields as MSAL sends them, JWT nbf/appid surfaced", async () => {
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new EnvironmentCredential(options());
    assert.equal(credential.mode, "client-secret");
    const token = await credential.getToken(SCOPE);
    assert.equal(token.token, entra.issued[0]);
    assert.equal(token.tokenType, "Bearer");
    assert.equal(token.resource, "https://vault.azure.net");
    assert.equal(token.clientId, "secret-app");
    assert.equal(token.notBeforeTimestamp, (decodeJwt(token.token).nbf as number) * 1000);
    const [post] = entra.tokenRequests();
    assert.equal(post!.path, `/${entra.tenant}/oauth2/v2.0/token`);
    assert.equal(post!.form.grant_type, "client_credentials");
    assert.equal(post!.form.scope, SCOPE);
    assert.equal(post!.form.client_secret, SECRET);
    assert.ok(entra.requests.some((r) => r.path === `/${entra.tenant}/v2.0/.well-known/openid-configuration`));
  });

  it("serves the second call from its cache (no new request)", async () => {
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new EnvironmentCredential(options());
    const a = await credential.getToken(SCOPE);
    const count = entra.requests.length;
    const b = await credential.getToken(SCOPE);
    assert.equal(b.token, a.token);
    assert.equal(entra.requests.length, count);
  });

  it("precedence (checklist 65): secret wins over certificate and username/password", async () => {
    env.set({
      AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: SECRET,
      AZURE_CLIENT_CERTIFICATE_PATH: cert.file, AZURE_USERNAME: "user@contoso.com", AZURE_PASSWORD: "fake-password-123456",
      AZURE_AUTHORITY_HOST: entra.authorityHost,
    });
    const credential = new EnvironmentCredential(options());
    assert.equal(credential.mode, "client-secret");
    await credential.getToken(SCOPE);
    const [post] = entra.tokenRequests();
    assert.equal(post!.form.client_secret, SECRET);
    assert.equal(post!.form.client_assertion, undefined);
    assert.equal(post!.form.password, undefined);
  });

  it("precedence: certificate (PEM made in the test) wins over username/password; PS256 assertion with x5t#S256", async () => {
    env.set({
      AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "cert-app", AZURE_CLIENT_CERTIFICATE_PATH: cert.file,
      AZURE_USERNAME: "user@contoso.com", AZURE_PASSWORD: "fake-password-123456", AZURE_AUTHORITY_HOST: entra.authorityHost,
    });
    const credential = new EnvironmentCredential(options());
    assert.equal(credential.mode, "client-certificate");
    const token = await credential.getToken(SCOPE);
    assert.equal(token.clientId, "cert-app");
    const [post] = entra.tokenRequests();
    assert.equal(post!.form.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    const header = decodeProtectedHeader(post!.form.client_assertion!);
    assert.equal(header.alg, "PS256");
    assert.equal(header["x5t#S256"], cert.thumbprintSha256);
    const claims = decodeJwt(post!.form.client_assertion!);
    assert.equal(claims.iss, "cert-app");
    assert.equal(claims.sub, "cert-app");
    assert.equal(claims.aud, `${entra.authorityHost}/${entra.tenant}/oauth2/v2.0/token`);
  });

  for (const value of ["true", "1", "TRUE"]) {
    it(`AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=${value} adds x5c to the assertion (checklist 66)`, async () => {
      env.set({
        AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "cert-app", AZURE_CLIENT_CERTIFICATE_PATH: cert.file,
        AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: value, AZURE_AUTHORITY_HOST: entra.authorityHost,
      });
      await new EnvironmentCredential(options()).getToken(SCOPE);
      const header = decodeProtectedHeader(entra.tokenRequests()[0]!.form.client_assertion!);
      assert.ok(Array.isArray(header.x5c) && header.x5c.length === 1, JSON.stringify(header));
    });
  }

  it("without AZURE_CLIENT_SEND_CERTIFICATE_CHAIN the assertion has no x5c", async () => {
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "cert-app", AZURE_CLIENT_CERTIFICATE_PATH: cert.file, AZURE_AUTHORITY_HOST: entra.authorityHost });
    await new EnvironmentCredential(options()).getToken(SCOPE);
    assert.equal(decodeProtectedHeader(entra.tokenRequests()[0]!.form.client_assertion!).x5c, undefined);
  });

  it("precedence: username/password when only those are set", () => {
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "app", AZURE_USERNAME: "user@contoso.com", AZURE_PASSWORD: "fake-password-123456" });
    assert.equal(new EnvironmentCredential().mode, "username-password");
  });

  for (const [vars, reason] of [
    [{}, "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET not set"],
    [{ AZURE_CLIENT_ID: "app", AZURE_CLIENT_SECRET: SECRET }, "AZURE_TENANT_ID not set"],
    [{ AZURE_TENANT_ID: "contoso", AZURE_CLIENT_ID: "app" }, "AZURE_CLIENT_SECRET not set"],
    [{ AZURE_TENANT_ID: "contoso", AZURE_CLIENT_ID: "app", AZURE_USERNAME: "u@contoso.com" }, "AZURE_PASSWORD not set"],
  ] as const) {
    it(`partial configuration ⇒ unavailable, no request: ${reason}`, async () => {
      env.set(vars);
      const credential = new EnvironmentCredential();
      assert.equal(credential.mode, undefined);
      await assert.rejects(credential.getToken(SCOPE), (e: Error & { code: string; reason: string }) => {
        assert.equal(e.name, "CredentialUnavailableError");
        assert.equal(e.code, ErrorCode.CredentialUnavailable);
        assert.equal(e.reason, reason);
        assert.ok(e.message.startsWith(`EnvironmentCredential is unavailable: ${reason}.`), e.message);
        return true;
      });
      assert.equal(entra.requests.length, 0);
    });
  }

  it("bad secret (checklist 60): AuthenticationError 400 with Entra's error, secret not in the message", async () => {
    const wrong = "wrong-secret-value-abcdefghij";
    env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: wrong, AZURE_AUTHORITY_HOST: entra.authorityHost });
    const credential = new EnvironmentCredential(options());
    await assert.rejects(credential.getToken(SCOPE), (e: Error & { code: string; statusCode: number }) => {
      assert.equal(e.name, "AuthenticationError");
      assert.equal(e.code, ErrorCode.AuthenticationFailed);
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /^EnvironmentCredential authentication failed: invalid_client: AADSTS7000215: Invalid client secret provided\.$/);
      assert.ok(!e.message.includes(wrong));
      assert.ok(!String(e.stack).includes(wrong));
      return true;
    });
  });

  it("non-https authority host is rejected (checklist 71)", () => {
    env.set({ AZURE_TENANT_ID: "contoso", AZURE_CLIENT_ID: "app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: "http://127.0.0.1:1" });
    assert.throws(() => new EnvironmentCredential(), (e: Error & { code: string }) => {
      assert.equal(e.code, ErrorCode.InvalidArgument);
      assert.equal(
        e.message,
        "The authorityHost address must use the 'https' protocol. (AZURE_AUTHORITY_HOST is http://127.0.0.1:1; use an https:// URL.)",
      );
      return true;
    });
  });

  it("malformed tenant id is rejected at construction", () => {
    env.set({ AZURE_TENANT_ID: "contoso/../x", AZURE_CLIENT_ID: "app", AZURE_CLIENT_SECRET: SECRET });
    assert.throws(() => new EnvironmentCredential(), /^AzmiError: Invalid tenant id provided in AZURE_TENANT_ID\. /);
  });

  it("never logs the secret or the token (AZURE_LOG_LEVEL=verbose, @azure/identity's lines included)", async () => {
    const logs = captureLogs("verbose");
    try {
      env.set({ AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "secret-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost });
      const token = await new EnvironmentCredential(options()).getToken(SCOPE);
      env.set({ AZURE_CLIENT_SECRET: "another-wrong-secret-xyz987" });
      await assert.rejects(new EnvironmentCredential(options()).getToken(SCOPE));
      const all = logs.lines.join("\n");
      assert.ok(logs.lines.some((l) => l.includes("EnvironmentCredential => getToken() =>")), "azmi logged");
      for (const secret of [SECRET, token.token, "another-wrong-secret-xyz987"]) assert.ok(!all.includes(secret), "secret in logs");
    } finally {
      logs.stop();
    }
  });
});
