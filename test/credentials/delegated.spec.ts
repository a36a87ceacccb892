/**
 * DelegatedCredential's own share of the work (src/credentials/delegated.ts):
 * one token fetch for concurrent callers, and each caller's abort signal or
 * timeout ending only that caller's wait. The inner credential here stands
 * in for `@azure/identity`'s (which honours `abortSignal` the same way), so
 * the test needs no Entra fake.
 */
import * as assert from "node:assert/strict";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { DelegatedCredential, type Unavailability } from "../../src/credentials/delegated";

/** An inner credential that answers after `delayMs` and gives up when the caller's signal aborts, counting its calls. */
class SlowInner implements TokenCredential {
  calls = 0;
  constructor(private readonly delayMs: number) {}
  getToken(_scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    this.calls++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ token: `inner-token-${this.calls}`, expiresOnTimestamp: Date.now() + 3_600_000 }), this.delayMs);
      options?.abortSignal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(Object.assign(new Error("The operation was aborted."), { name: "AbortError" }));
      });
    });
  }
}

class TestCredential extends DelegatedCredential {
  readonly credentialName = "TestCredential";
  constructor(readonly slow: SlowInner) {
    super();
  }
  protected availability(): Unavailability | undefined {
    return undefined;
  }
  protected createInner(): TokenCredential {
    return this.slow;
  }
}

describe("credentials/delegated", () => {
  it("a caller's abort ends its own wait; a caller that joined its fetch gets a token of its own", async () => {
    const credential = new TestCredential(new SlowInner(300));
    const controller = new AbortController();
    const first = credential.getToken("https://vault.azure.net/.default", { abortSignal: controller.signal });
    const second = credential.getToken("https://vault.azure.net/.default");
    setTimeout(() => controller.abort(), 50);
    const [a, b] = await Promise.allSettled([first, second]);
    assert.equal(a.status === "rejected" && (a.reason as Error).name, "AbortError");
    assert.equal(b.status, "fulfilled", b.status === "rejected" ? String(b.reason) : "");
    assert.equal(credential.slow.calls, 2, "the aborted fetch, then the second caller's own");
  });

  it("callers without limits share one fetch; an already aborted signal starts nothing", async () => {
    const credential = new TestCredential(new SlowInner(50));
    const tokens = await Promise.all(Array.from({ length: 10 }, () => credential.getToken("https://storage.azure.com/.default")));
    assert.equal(new Set(tokens.map((t) => t.token)).size, 1);
    assert.equal(credential.slow.calls, 1);
    await assert.rejects(credential.getToken("https://other.example/.default", { abortSignal: AbortSignal.abort() }), { name: "AbortError" });
    assert.equal(credential.slow.calls, 1);
  });
});
