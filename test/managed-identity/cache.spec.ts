/**
 * Every getToken goes through the TokenCache: single-flight, cache hits
 * without I/O, errors not cached, keys per resource / identity / tenant.
 */
import * as assert from "node:assert/strict";
import { json } from "../fakes/common";
import { startFakeImds } from "../fakes/imds";
import { cleanupHomes, credential, rejection, safeEnv } from "./helpers";

const VAULT = "https://vault.azure.net/.default";

describe("managed-identity/cache", () => {
  after(cleanupHomes);

  it("100 concurrent getToken calls cause one request", async () => {
    const imds = await startFakeImds();
    try {
      const c = credential(safeEnv(imds.env));
      const tokens = await Promise.all(Array.from({ length: 100 }, () => c.getToken(VAULT)));
      assert.equal(imds.tokenRequests().length, 1);
      assert.ok(tokens.every((t) => t.token === imds.issued[0]));
    } finally {
      await imds.close();
    }
  });

  it("scope with and without /.default share an entry; other resources, identities and tenants do not", async () => {
    const imds = await startFakeImds({ identities: [{ clientId: "c1" }] });
    try {
      const c = credential(safeEnv(imds.env));
      await c.getToken(VAULT);
      await c.getToken("https://vault.azure.net");
      await c.getToken(["https://vault.azure.net/.default"]);
      assert.equal(imds.tokenRequests().length, 1);
      await c.getToken("https://storage.azure.com/.default");
      await c.getToken(VAULT, { tenantId: "t2" });
      assert.equal(imds.tokenRequests().length, 3);
      await credential(safeEnv(imds.env), { clientId: "c1" }).getToken(VAULT);
      assert.equal(imds.tokenRequests().length, 4);
    } finally {
      await imds.close();
    }
  });

  it("errors are not cached: the next call asks again", async () => {
    const imds = await startFakeImds({ faults: [json(400, { error: "invalid_request", error_description: "Identity not found" })] });
    try {
      const c = credential(safeEnv(imds.env));
      await rejection(c.getToken(VAULT));
      const t = await c.getToken(VAULT);
      assert.equal(t.token, imds.issued[0]);
      assert.equal(imds.tokenRequests().length, 2);
    } finally {
      await imds.close();
    }
  });

  it("an aborted signal rejects with AbortError", async () => {
    const imds = await startFakeImds();
    try {
      const ac = new AbortController();
      ac.abort();
      const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT, { abortSignal: ac.signal }));
      assert.equal(err.name, "AbortError");
      assert.equal(imds.requests.length, 0);
    } finally {
      await imds.close();
    }
  });
});
