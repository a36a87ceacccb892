/**
 * `issuer: "chain"` with the real chain (`getManagedToken` from src/msi.ts):
 * a forwarding server whose host environment points managed identity (App
 * Service dialect) at an upstream offline `azmi serve` hands out the
 * upstream's tokens, unchanged, in another dialect.
 */
import * as assert from "node:assert/strict";
import { startServer, type RunningServer } from "../../src/serve/server";
import { claimsOf, get, IMDS_PATH, IMDS_QUERY, useTempHome, VAULT } from "./support";

describe("serve: chain issuer over the real credential chain", function () {
  this.timeout(60_000);
  const home = useTempHome();
  let upstream: RunningServer;
  let forwarder: RunningServer;
  before(async () => {
    upstream = await startServer({ env: home.env });
    forwarder = await startServer({
      issuer: "chain",
      env: { AZMI_HOME: home.dir, PATH: process.env.PATH, AZURE_TOKEN_CREDENTIALS: "ManagedIdentityCredential", ...upstream.dialects.appService },
    });
  });
  after(async () => {
    await forwarder?.close();
    await upstream?.close();
  });

  it("serves the upstream's token through its IMDS dialect, and caches it", async () => {
    const a = await get(forwarder.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
    assert.equal(a.status, 200, a.body);
    const body = JSON.parse(a.body);
    const claims = claimsOf(body.access_token);
    assert.equal(claims.iss, upstream.issuer);
    assert.equal(claims.aud, VAULT);
    assert.equal(claims.appid, upstream.systemClientId);
    const b = JSON.parse((await get(forwarder.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" })).body);
    assert.equal(b.access_token, body.access_token);
  });
});
