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

  it("an endpoint that took the request and is silent: the message says it took the request, not that it could not be reached", async () => {
    env.set({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: "request-timeout-header-value" });
    const credential = new ManagedIdentityCredential({ timeBudgetMs: 600 });
    await assert.rejects(credential.getToken("https://vault.azure.net/.default"), (e: Error & { code?: string }) => {
      assert.equal(e.name, "CredentialUnavailableError");
      assert.equal(e.code, "ETIMEDOUT");
      assert.match(e.message, /^ManagedIdentityCredential: App Service at 127\.0\.0\.1:\d+ took the request but did not answer in time \(headers ETIMEDOUT after \d+ ms, timeout \d+ ms\)\. The endpoint is overloaded or hung; a larger time budget \(timeBudgetMs\) waits longer\.$/);
      return true;
    });
  });

  it("an endpoint slower than one request's 10 s cap still answers: the retry after a cut that came after the request was sent waits for the rest of the budget", async function () {
    // Before, every attempt was cut at 10 s, and a retry restarts the
    // endpoint's work: an endpoint that takes 10.6 s could never answer.
    this.timeout(40_000);
    const requests: number[] = [];
    const slow = net.createServer((socket) => {
      requests.push(performance.now());
      socket.once("data", () => {
        const timer = setTimeout(() => {
          const body = JSON.stringify({ access_token: "slow_endpoint_token_0123456789", expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource: "https://vault.azure.net", token_type: "Bearer" });
          socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }, 10_600);
        socket.on("close", () => clearTimeout(timer));
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
    try {
      env.set({ IDENTITY_ENDPOINT: `http://127.0.0.1:${(slow.address() as net.AddressInfo).port}/msi/token`, IDENTITY_HEADER: "request-timeout-header-value" });
      const token = await new ManagedIdentityCredential().getToken("https://vault.azure.net/.default");
      assert.equal(token.token, "slow_endpoint_token_0123456789");
      assert.equal(requests.length, 2, "the first request cut at 10 s, the retry answered");
    } finally {
      await new Promise((resolve) => slow.close(resolve));
    }
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
