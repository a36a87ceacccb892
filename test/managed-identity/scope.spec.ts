import * as assert from "node:assert/strict";
import { resourceForScopes, scopeToResource } from "../../src/managed-identity/scope";
import { startFakeImds } from "../fakes/imds";
import { cleanupHomes, credential, rejection, safeEnv } from "./helpers";

describe("managed-identity/scope", () => {
  after(cleanupHomes);

  it("checklist 1: strips /.default, no trailing slash", () => {
    assert.equal(scopeToResource("https://management.azure.com/.default"), "https://management.azure.com");
  });
  it("checklist 2: //.default keeps one slash", () => {
    assert.equal(scopeToResource("https://management.azure.com//.default"), "https://management.azure.com/");
  });
  it("checklist 3: only the suffix is stripped", () => {
    assert.equal(scopeToResource("https://vault.azure.net"), "https://vault.azure.net");
    assert.equal(scopeToResource("https://x/.default/y"), "https://x/.default/y");
    assert.equal(scopeToResource("api://app/.default.x"), "api://app/.default.x");
  });
  it("rejects empty and non-string scopes with TypeError", () => {
    assert.throws(() => resourceForScopes([]), TypeError);
    assert.throws(() => resourceForScopes(""), TypeError);
    assert.throws(() => resourceForScopes([1 as unknown as string]), TypeError);
  });

  it("checklist 1 on the wire: resource=https%3A%2F%2Fmanagement.azure.com", async () => {
    const imds = await startFakeImds();
    try {
      await credential(safeEnv(imds.env)).getToken("https://management.azure.com/.default");
      assert.equal(imds.tokenRequests()[0]!.rawQuery, "api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com");
    } finally {
      await imds.close();
    }
  });

  it("checklist 4: two scopes fail without any request, with JS's exact message", async () => {
    const imds = await startFakeImds();
    try {
      const err = await rejection(credential(safeEnv(imds.env)).getToken(["https://a/.default", "https://b/.default"]));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_MI_MULTIPLE_SCOPES");
      assert.equal(err.message, 'ManagedIdentityCredential: Multiple scopes are not supported. Scopes: ["https://a/.default","https://b/.default"]');
      assert.equal(imds.requests.length, 0);
    } finally {
      await imds.close();
    }
  });
});
