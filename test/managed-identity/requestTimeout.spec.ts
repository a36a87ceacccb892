import assert from "node:assert/strict";
import * as net from "node:net";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";
import { useCleanEnv } from "../support/env";

/**
 * `GetTokenOptions.requestOptions.timeout` (the Azure SDK per-call timeout)
 * caps the credential's own budget for that call, so a request the native
 * transport cannot cancel still ends near the caller's deadline.
 */
describe("managed-identity: requestOptions.timeout caps the call", () => {
  const env = useCleanEnv();
  let server: net.Server;
  const sockets = new Set<net.Socket>();
  let port = 0;

  before(async () => {
    server = net.createServer((socket) => {
      sockets.add(socket); // accept, read, never answer
      socket.on("close", () => sockets.delete(socket));
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("ends near requestOptions.timeout, not at timeBudgetMs, against an endpoint that never answers", async () => {
    env.set({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: "request-timeout-header-value" });
    const credential = new ManagedIdentityCredential({ timeBudgetMs: 20_000 });
    const started = performance.now();
    await assert.rejects(
      credential.getToken("https://vault.azure.net/.default", { requestOptions: { timeout: 400 } }),
      (e: Error & { code?: string }) => {
        assert.equal(e.name, "CredentialUnavailableError");
        assert.match(e.message, /timeout 4\d\d ms|ETIMEDOUT/);
        assert.doesNotMatch(e.message, /request-timeout-header-value/);
        return true;
      },
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 3 * 400, `ended after ${elapsed.toFixed(0)} ms`);
  });

  it("a timeout longer than timeBudgetMs does not extend the budget", async () => {
    env.set({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: "request-timeout-header-value" });
    const credential = new ManagedIdentityCredential({ timeBudgetMs: 300 });
    const started = performance.now();
    await assert.rejects(credential.getToken("https://vault.azure.net/.default", { requestOptions: { timeout: 60_000 } }));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 3 * 300, `ended after ${elapsed.toFixed(0)} ms`);
  });
});
