import assert from "node:assert/strict";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { ChainedTokenCredential } from "../../src/credentials/chainedTokenCredential";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";
import { CredentialUnavailableError } from "../../src/errors";
import { startFakeAppService } from "../fakes/appService";
import type { Fake } from "../fakes/common";
import { fakeToken, tokenBody } from "../fakes/tokens";
import { useCleanEnv } from "../support/env";

/**
 * README: concurrent first calls share one request, "but one caller's
 * `abortSignal` or `requestOptions.timeout` ends only that caller's wait".
 * A caller with a timeout that joins a request another caller started must
 * get its answer by its own timeout (as it would from @azure/identity, where
 * its own request carries the timeout), and callers without limits must not
 * inherit the limits of one that has them.
 */
describe("reliability: requestOptions.timeout of a caller that joins a shared fetch", () => {
  const env = useCleanEnv();
  const SCOPE = "https://vault.azure.net/.default";
  const SLOW_MS = 700;
  let fake: Fake & { secret: string };

  beforeEach(async () => {
    fake = await startFakeAppService({
      respond: (req) => ({
        status: 200,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(tokenBody({ token: fakeToken(), resource: req.param("resource")!, includeExpiresIn: false })),
        delayMs: SLOW_MS,
      }),
    });
    env.set(fake.env);
  });
  afterEach(async () => {
    await fake.close();
  });

  const settle = (p: Promise<AccessToken | null>, started: number) =>
    p.then(
      (token) => ({ token, ms: performance.now() - started }),
      (error: Error & { code?: string }) => ({ error, ms: performance.now() - started }),
    );

  for (const kind of ["ManagedIdentityCredential", "ChainedTokenCredential"] as const) {
    it(`${kind}: a joiner with requestOptions.timeout 150 gives up at its timeout; the starter still gets the one token`, async () => {
      const credential: TokenCredential =
        kind === "ManagedIdentityCredential" ? new ManagedIdentityCredential() : new ChainedTokenCredential(new ManagedIdentityCredential());
      const started = performance.now();
      const [first, joiner] = await Promise.all([
        settle(credential.getToken(SCOPE), started),
        settle(credential.getToken(SCOPE, { requestOptions: { timeout: 150 } }), started),
      ]);
      assert.ok("token" in first && first.token, "the starter gets a token");
      assert.ok("error" in joiner, `the joiner got a token after ${joiner.ms.toFixed(0)} ms despite its 150 ms timeout`);
      assert.equal(joiner.error.name, "CredentialUnavailableError");
      assert.ok(joiner.error instanceof CredentialUnavailableError);
      assert.equal(joiner.error.code, "ETIMEDOUT");
      assert.match(joiner.error.message, new RegExp(`^${kind === "ManagedIdentityCredential" ? "ManagedIdentityCredential" : "ChainedTokenCredential"}: no token within requestOptions.timeout \\(150 ms\\)`));
      assert.ok(joiner.ms < SLOW_MS - 100, `the joiner waited ${joiner.ms.toFixed(0)} ms`);
      assert.equal(fake.tokenRequests().length, 1, "still one request for both callers");
      // The shared request went on: its token is cached for later callers.
      assert.equal((await credential.getToken(SCOPE, { requestOptions: { timeout: 150 } }))?.token, first.token!.token);
    });
  }

  it("callers without limits do not inherit a limited joiner's walk after the starter aborts", async () => {
    // A link that takes long to say "unavailable" (like a developer tool): a
    // walk that goes on to it after managed identity timed out is slow.
    let slowCalls = 0;
    const slowUnavailable: TokenCredential = {
      getToken: async () => {
        slowCalls++;
        await new Promise((resolve) => setTimeout(resolve, 2000));
        throw new CredentialUnavailableError("SlowCredential is unavailable: test.");
      },
    };
    const chain = new ChainedTokenCredential(new ManagedIdentityCredential(), slowUnavailable);
    const controller = new AbortController();
    const started = performance.now();
    const calls = [
      settle(chain.getToken(SCOPE, { abortSignal: controller.signal }), started),
      settle(chain.getToken(SCOPE, { requestOptions: { timeout: 150 } }), started),
      ...Array.from({ length: 20 }, () => settle(chain.getToken(SCOPE), started)),
    ];
    setTimeout(() => controller.abort(), 50);
    const [aborted, timed, ...plain] = await Promise.all(calls);
    assert.ok("error" in aborted && aborted.error.name === "AbortError");
    assert.ok("error" in timed && timed.error.name === "CredentialUnavailableError");
    for (const p of plain) {
      assert.ok("token" in p, `a plain caller failed: ${"error" in p ? p.error.message : ""}`);
      assert.ok(p.ms < 1800, `a plain caller waited ${p.ms.toFixed(0)} ms: it inherited the 150 ms caller's walk`);
    }
    assert.equal(new Set(plain.map((p) => ("token" in p ? p.token!.token : ""))).size, 1);
    assert.equal(fake.tokenRequests().length, 1);
    assert.equal(slowCalls, 0, "no walk went past managed identity");
  });
});
