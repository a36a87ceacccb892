import assert from "node:assert/strict";
import type { AccessToken } from "@azure/core-auth";
import {
  EXPIRY_MARGIN_MS,
  LONG_LIVED_TOKEN_MS,
  REFRESH_BEFORE_EXPIRY_MS,
  REFRESH_RETRY_MS,
  TokenCache,
  refreshTimeFor,
} from "../../src/cache/tokenCache";

const HOUR = 60 * 60 * 1000;

/** A controllable clock and a fetcher that counts calls and can be told to fail or wait. */
function harness(start = 1_000_000_000_000) {
  let now = start;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  let calls = 0;
  let lifetime = HOUR;
  let fail: Error | undefined;
  let gate: Promise<void> | undefined;
  const fetch = async (): Promise<AccessToken> => {
    calls++;
    const n = calls;
    if (gate) await gate;
    if (fail) throw fail;
    return { token: `token-${n}`, expiresOnTimestamp: now + lifetime };
  };
  return {
    clock,
    fetch,
    calls: () => calls,
    setLifetime: (ms: number) => (lifetime = ms),
    setFailure: (e?: Error) => (fail = e),
    hold: () => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

describe("cache/tokenCache", () => {
  describe("refreshTimeFor", () => {
    it("honours refreshAfterTimestamp (refresh_in) when the token has one", () => {
      assert.equal(refreshTimeFor({ token: "t", expiresOnTimestamp: 10 * HOUR, refreshAfterTimestamp: 123 }, 0), 123);
    });
    it("refreshes tokens longer than 2 h at half-life", () => {
      assert.equal(refreshTimeFor({ token: "t", expiresOnTimestamp: 24 * HOUR }, 0), 12 * HOUR);
    });
    it("refreshes a token of exactly 2 h, and shorter ones, 5 min before expiry", () => {
      assert.equal(
        refreshTimeFor({ token: "t", expiresOnTimestamp: LONG_LIVED_TOKEN_MS }, 0),
        LONG_LIVED_TOKEN_MS - REFRESH_BEFORE_EXPIRY_MS,
      );
      assert.equal(refreshTimeFor({ token: "t", expiresOnTimestamp: HOUR }, 0), HOUR - REFRESH_BEFORE_EXPIRY_MS);
      // Under ten minutes, "five minutes before expiry" would fall before the token arrived: half-life instead.
      assert.equal(refreshTimeFor({ token: "t", expiresOnTimestamp: 1_000_000 + 200_000 }, 1_000_000), 1_100_000);
      assert.equal(refreshTimeFor({ token: "t", expiresOnTimestamp: 10 * 60_000 }, 0), 5 * 60_000, "at ten minutes both rules agree");
    });
  });

  it("a token that lives exactly 2 h from its arrival refreshes 5 min before expiry, however long the fetch took (the wait is not lifetime)", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    h.setLifetime(LONG_LIVED_TOKEN_MS);
    const release = h.hold();
    const pending = cache.getToken("k", h.fetch);
    h.clock.advance(2_000); // the endpoint takes 2 s to answer; its token then lives 2 h
    release();
    await pending;
    h.clock.advance(LONG_LIVED_TOKEN_MS / 2 + 1_000);
    assert.equal(cache.peek("k", h.fetch)?.token, "token-1");
    assert.equal(h.calls(), 1, "no half-life refresh for a 2 h token");
    h.clock.advance(LONG_LIVED_TOKEN_MS / 2 - REFRESH_BEFORE_EXPIRY_MS);
    assert.equal(cache.peek("k", h.fetch)?.token, "token-1");
    assert.equal(h.calls(), 2, "refresh 5 min before expiry");
  });

  it("returns the cached token without fetching again", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    const first = await cache.getToken("k", h.fetch);
    const second = await cache.getToken("k", h.fetch);
    assert.equal(first, second);
    assert.equal(h.calls(), 1);
  });

  it("keys are independent", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    await cache.getToken("a", h.fetch);
    await cache.getToken("b", h.fetch);
    assert.equal(h.calls(), 2);
  });

  it("100 concurrent callers share one fetch (single-flight)", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    const release = h.hold();
    const all = Promise.all(Array.from({ length: 100 }, () => cache.getToken("k", h.fetch)));
    release();
    const tokens = await all;
    assert.equal(h.calls(), 1);
    assert.ok(tokens.every((t) => t.token === "token-1"));
  });

  it("does not cache errors: the next call fetches again", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    h.setFailure(new Error("boom"));
    await assert.rejects(cache.getToken("k", h.fetch), /boom/);
    h.setFailure(undefined);
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-2");
  });

  it("after the refresh time serves the cached token while one background fetch replaces it", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    await cache.getToken("k", h.fetch);
    h.clock.advance(HOUR - REFRESH_BEFORE_EXPIRY_MS + 1);
    const release = h.hold();
    const during = await Promise.all([cache.getToken("k", h.fetch), cache.getToken("k", h.fetch)]);
    assert.deepEqual(
      during.map((t) => t.token),
      ["token-1", "token-1"],
    );
    assert.equal(h.calls(), 2, "exactly one background refresh");
    release();
    await new Promise((r) => setImmediate(r));
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-2");
  });

  it("a failed background refresh keeps serving the valid token and retries after REFRESH_RETRY_MS", async () => {
    const h = harness();
    const errors: unknown[] = [];
    const cache = new TokenCache({ now: h.clock.now, onBackgroundError: (_k, e) => errors.push(e) });
    await cache.getToken("k", h.fetch);
    h.clock.advance(HOUR - REFRESH_BEFORE_EXPIRY_MS + 1);
    h.setFailure(new Error("refresh failed"));
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-1");
    await new Promise((r) => setImmediate(r));
    assert.equal(errors.length, 1);
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-1");
    assert.equal(h.calls(), 2, "no retry before REFRESH_RETRY_MS");
    h.clock.advance(REFRESH_RETRY_MS);
    h.setFailure(undefined);
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-1");
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls(), 3);
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-3");
  });

  it("never serves a token within EXPIRY_MARGIN_MS of expiry: callers wait for a new one", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    await cache.getToken("k", h.fetch);
    h.clock.advance(HOUR - EXPIRY_MARGIN_MS);
    assert.equal(cache.peek("k"), undefined);
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-2");
  });

  it("serves a token that lives under two minutes for three quarters of its life, not never (30 s token: 22.5 s)", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    h.setLifetime(30_000);
    await cache.getToken("k", h.fetch);
    h.clock.advance(22_000);
    assert.equal(cache.peek("k")?.token, "token-1", "inside its life, outside a quarter-of-life margin");
    for (let i = 0; i < 10; i++) await cache.getToken("k", h.fetch);
    await new Promise((r) => setImmediate(r));
    assert.equal(h.calls(), 2, "ten calls, one background refresh (past half-life), not a fetch per call");
    assert.equal(cache.peek("k")?.token, "token-2");
    h.clock.advance(22_600);
    assert.equal(cache.peek("k"), undefined, "within the last quarter of its life");
    assert.equal((await cache.getToken("k", h.fetch)).token, "token-3");
  });

  it("rejects a fetched token that has already expired, with ERR_TOKEN_EXPIRED and without the token", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    h.setLifetime(-1000);
    await assert.rejects(cache.getToken("https://vault.azure.net|system", h.fetch), (e: any) => {
      assert.equal(e.code, "ERR_TOKEN_EXPIRED");
      assert.match(e.message, /https:\/\/vault\.azure\.net/);
      assert.doesNotMatch(e.message, /token-1/);
      return true;
    });
    assert.equal(cache.peek("https://vault.azure.net|system"), undefined);
  });

  it("a fetched token whose expiry is this very millisecond counts as expired (ERR_TOKEN_EXPIRED), not served", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    h.setLifetime(0);
    await assert.rejects(cache.getToken("k", h.fetch), { code: "ERR_TOKEN_EXPIRED" });
    assert.equal(cache.peek("k"), undefined);
  });

  it("clear() forgets a key or everything", async () => {
    const h = harness();
    const cache = new TokenCache({ now: h.clock.now });
    await cache.getToken("a", h.fetch);
    await cache.getToken("b", h.fetch);
    cache.clear("a");
    assert.equal(cache.peek("a"), undefined);
    assert.ok(cache.peek("b"));
    cache.clear();
    assert.equal(cache.peek("b"), undefined);
  });
});
