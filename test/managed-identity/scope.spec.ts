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

  it("refuses a scope with half of a surrogate pair before any request, naming where (encoding it threw a bare URIError)", async () => {
    const imds = await startFakeImds();
    try {
      for (const [scope, at, unit] of [["https://vault.azure.net/\uD800/.default", 24, "D800"], ["\uDE00https://vault.azure.net/.default", 0, "DE00"], ["https://vault.azure.net/\uD83D", 24, "D83D"]] as const) {
        const err = await rejection(credential(safeEnv(imds.env)).getToken(scope));
        assert.equal(err.name, "TypeError", err.message);
        assert.equal(
          err.message,
          `ManagedIdentityCredential: the scope contains half of a surrogate pair (U+${unit}) at position ${at}, which no text encoding can send. Pass one well-formed scope such as 'https://management.azure.com/.default'.`,
        );
      }
      assert.equal(imds.requests.length, 0);
      // A whole pair is text like any other.
      await credential(safeEnv(imds.env)).getToken("https://vault.azure.net/\uD83D\uDE00/.default");
      assert.equal(imds.tokenRequests()[0]!.param("resource"), "https://vault.azure.net/\uD83D\uDE00");
    } finally {
      await imds.close();
    }
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
