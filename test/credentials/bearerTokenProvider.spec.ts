/**
 * `getBearerTokenProvider` keeps its token as `@azure/identity`'s does
 * (through `bearerTokenAuthenticationPolicy`): a credential that does not
 * cache (any custom `TokenCredential`) is asked once per token, not per call.
 */
import * as assert from "node:assert/strict";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { getBearerTokenProvider } from "../../src/credentials/bearerTokenProvider";

/** A credential without a cache, scripted per call. */
class CountingCredential implements TokenCredential {
  calls = 0;
  constructor(public next: () => AccessToken | Promise<AccessToken>) {}
  async getToken(): Promise<AccessToken> {
    this.calls++;
    return this.next();
  }
}

const SCOPE = "https://cognitiveservices.azure.com/.default";

describe("getBearerTokenProvider", () => {
  it("asks a credential without a cache once for 40 calls (10 at once), as @azure/identity's provider does", async () => {
    const credential = new CountingCredential(async () => {
      await new Promise((r) => setTimeout(r, 20));
      return { token: "t1-padding", expiresOnTimestamp: Date.now() + 3600_000 };
    });
    const provider = getBearerTokenProvider(credential, SCOPE);
    assert.deepEqual(await Promise.all(Array.from({ length: 10 }, () => provider())), Array(10).fill("t1-padding"));
    for (let i = 0; i < 30; i++) assert.equal(await provider(), "t1-padding");
    assert.equal(credential.calls, 1);
  });

  it("asks again once the token is due: at its refreshAfterTimestamp, else 2 minutes before expiry", async () => {
    let n = 0;
    const credential = new CountingCredential(() => ({ token: `t${++n}-padding`, expiresOnTimestamp: Date.now() + 60_000 }));
    const provider = getBearerTokenProvider(credential, SCOPE);
    // Expires within the 2-minute window: every call refreshes.
    assert.equal(await provider(), "t1-padding");
    assert.equal(await provider(), "t2-padding");
    const due = new CountingCredential(() => ({ token: `r${++n}-padding`, expiresOnTimestamp: Date.now() + 3600_000, refreshAfterTimestamp: Date.now() - 1 }));
    const early = getBearerTokenProvider(due, SCOPE);
    await early();
    await early();
    assert.equal(due.calls, 2, "refreshAfterTimestamp passed: asked again");
  });

  it("a failed refresh keeps serving the held token while it is still valid; without one, the credential's error", async () => {
    let fail = false;
    const credential = new CountingCredential(() => {
      if (fail) throw new Error("endpoint down");
      return { token: "held-padding", expiresOnTimestamp: Date.now() + 3600_000, refreshAfterTimestamp: Date.now() - 1 };
    });
    const provider = getBearerTokenProvider(credential, SCOPE);
    assert.equal(await provider(), "held-padding");
    fail = true;
    assert.equal(await provider(), "held-padding");
    const fresh = getBearerTokenProvider(credential, SCOPE);
    await assert.rejects(fresh(), /endpoint down/);
  });
});
