/**
 * Retries and deadlines (spec §6.2, checklist 51–55) against a fake that
 * counts; computed backoff is scaled to 1 % (real sleeps), server-requested
 * delays are real.
 */
import * as assert from "node:assert/strict";
import { MI_TEST_TIMING, ManagedIdentityCredential, type ManagedIdentityCredentialOptions } from "../../src/credentials/managedIdentityCredential";
import { backoffMs, Budget, MAX_RETRIES, retryDelayMs, serverRetryAfterMs, type RetryTiming } from "../../src/managed-identity/retry";
import { json } from "../fakes/common";
import { startFakeImds } from "../fakes/imds";
import { startFakeAppService } from "../fakes/appService";
import type { FakeResponse } from "../fakes/rawServer";
import { cleanupHomes, credential, rejection, safeEnv } from "./helpers";

const VAULT = "https://vault.azure.net/.default";
const times = (n: number, r: FakeResponse) => Array.from({ length: n }, () => ({ ...r }));
const gaps = (reqs: Array<{ at: number }>) => reqs.slice(1).map((r, i) => r.at - reqs[i]!.at);

describe("managed-identity/retry", () => {
  after(cleanupHomes);

  it("delays: 800 ms × 2ⁿ with 50–100 % jitter, 410 from 3 s, server headers win", () => {
    assert.equal(backoffMs(800, 0, () => 1), 800);
    assert.equal(backoffMs(800, 0, () => 0), 400);
    assert.equal(backoffMs(800, 3, () => 1), 6400);
    assert.equal(retryDelayMs(410, 1, {}, () => 1), 6000);
    assert.equal(retryDelayMs(429, 0, { "retry-after": "2" }), 2000);
    assert.equal(retryDelayMs(503, 0, { "retry-after-ms": "15" }), 15);
    assert.equal(retryDelayMs(503, 0, { "x-ms-retry-after-ms": "20" }), 20);
    assert.equal(retryDelayMs(500, MAX_RETRIES, {}), undefined);
    for (const s of [400, 401, 403, 405, 501, 502, 505]) assert.equal(retryDelayMs(s, 0, {}), undefined, String(s));
    const date = new Date(Date.now() + 5000).toUTCString();
    const ms = serverRetryAfterMs({ "retry-after": date })!;
    assert.ok(ms > 3000 && ms <= 5000, String(ms));
  });

  it("Budget: no wait that leaves no room for a request; request timeout capped", () => {
    let now = 0;
    const b = new Budget(1000, () => now);
    assert.equal(b.requestTimeoutMs(300), 300);
    assert.ok(b.canWait(900));
    assert.ok(!b.canWait(960));
    now = 990;
    assert.equal(b.requestTimeoutMs(), 10);
  });

  it("checklist 51: 400 ⇒ one request, CredentialUnavailableError", async () => {
    const imds = await startFakeImds({ faults: [json(400, { error: "invalid_request", error_description: "Identity not found" })] });
    try {
      const err = await rejection(credential(safeEnv(imds.env), { clientId: "c-1" }).getToken(VAULT));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_MI_IDENTITY_NOT_FOUND");
      assert.equal(
        err.message,
        `ManagedIdentityCredential: IMDS at 127.0.0.1:${imds.port} answered 400 invalid_request "Identity not found": clientId c-1 is not assigned to this resource. Assign it, or pass the clientId/objectId/resourceId of an identity that is. If it is azmi serve, start it with --identity c-1 (or --accept-any-identity).`,
      );
      assert.equal(imds.tokenRequests().length, 1);
    } finally {
      await imds.close();
    }
  });

  it("checklist 51: any other IMDS 400 (invalid_resource, bad_request_102) ⇒ one request, CredentialUnavailableError ERR_MI_ENDPOINT_ERROR", async () => {
    const bodies = [
      { error: "invalid_resource", error_description: "AADSTS50001: The application named https://vault.azure.net was not found in the tenant." },
      { error: "bad_request_102", error_description: "Required metadata header not specified" },
    ];
    for (const body of bodies) {
      const imds = await startFakeImds({ faults: [json(400, body)] });
      try {
        const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT));
        assert.equal(err.name, "CredentialUnavailableError", body.error);
        assert.equal(err.code, "ERR_MI_ENDPOINT_ERROR");
        assert.equal(err.message, `ManagedIdentityCredential: IMDS at 127.0.0.1:${imds.port} answered 400 ${body.error} ${JSON.stringify(body.error_description)}.`);
        assert.equal(imds.tokenRequests().length, 1);
      } finally {
        await imds.close();
      }
    }
  });

  it("checklist 52: 404 ⇒ 5 retries (6 requests) with growing delays, then unavailable", async () => {
    const imds = await startFakeImds({ faults: times(6, json(404, { error: "not_found", error_description: "IMDS updating" })) });
    try {
      const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_MI_ENDPOINT_ERROR");
      assert.equal(err.message, `ManagedIdentityCredential: IMDS at 127.0.0.1:${imds.port} answered 404 after 6 attempts: not_found "IMDS updating".`);
      assert.equal(imds.tokenRequests().length, 6);
      const g = gaps(imds.tokenRequests());
      assert.ok(g[4]! >= 100, `last gap ${g[4]} should be ≈128 ms (800×2⁴ at 1 %)`);
    } finally {
      await imds.close();
    }
  });

  it("checklist 53: 410 ⇒ retried from a 3 s base (scaled: gaps ≥ 30 ms, 60 ms), then success", async () => {
    const imds = await startFakeImds({ faults: times(2, json(410, { error: "gone" })) });
    try {
      const t = await credential(safeEnv(imds.env)).getToken(VAULT);
      assert.equal(t.token, imds.issued[0]);
      const g = gaps(imds.tokenRequests());
      assert.equal(g.length, 2);
      assert.ok(g[0]! >= 25 && g[1]! >= 55, JSON.stringify(g));
    } finally {
      await imds.close();
    }
  });

  describe("410 'updating, available within 70 s' (spec §6.1) against the default 30 s budget", () => {
    /** Sleeps that return at once but move the budget's clock by what they slept, so the budget sees the waits as real. */
    function virtualTiming() {
      const slept: number[] = [];
      let offset = 0;
      const timing: RetryTiming = {
        sleep: async (ms) => void (slept.push(ms), (offset += ms)),
        random: () => 1,
        scale: 1,
        now: () => performance.now() + offset,
      };
      return { slept, timing };
    }
    const gone = (retryAfterSec?: number) => json(410, { error: "gone" }, retryAfterSec === undefined ? {} : { "Retry-After": String(retryAfterSec) });
    const make = (env: NodeJS.ProcessEnv, timing: RetryTiming, options: ManagedIdentityCredentialOptions = {}) =>
      new ManagedIdentityCredential({ env, ...options, [MI_TEST_TIMING]: timing } as ManagedIdentityCredentialOptions);

    it("the default budget stretches to 70 s from the first 410: backoff 3, 6, 12, 24 s, then the 48 s step cut to one last try inside the window", async () => {
      const imds = await startFakeImds({ faults: times(5, gone()) });
      try {
        const { slept, timing } = virtualTiming();
        const t = await make(safeEnv(imds.env), timing).getToken(VAULT);
        assert.equal(t.token, imds.issued[0]);
        assert.deepEqual(slept.slice(0, 4), [3000, 6000, 12_000, 24_000]);
        assert.ok(slept[4]! > 23_000 && slept[4]! < 25_000, `last wait ${slept[4]} fits what is left of 70 s`);
        assert.ok(slept.reduce((a, b) => a + b) < 70_000);
      } finally {
        await imds.close();
      }
    });

    it("a server's Retry-After is honoured inside the window (40 s + 20 s), never cut: 60 s + 60 s does not fit, and the message says the budget was stretched", async () => {
      const imds = await startFakeImds({ faults: [gone(40), gone(20)] });
      const slow = await startFakeImds({ faults: [gone(60), gone(60)] });
      try {
        const ok = virtualTiming();
        assert.equal((await make(safeEnv(imds.env), ok.timing).getToken(VAULT)).token, imds.issued[0]);
        assert.deepEqual(ok.slept, [40_000, 20_000]);
        const late = virtualTiming();
        const err = await rejection(make(safeEnv(slow.env), late.timing).getToken(VAULT));
        assert.equal(err.code, "ERR_BUDGET_EXCEEDED");
        assert.deepEqual(late.slept, [60_000]);
        assert.match(err.message, /answered 410 and a retry in 60000 ms would not fit in the \d+ ms left of this call's time budget \(timeBudgetMs=30000, stretched by 70 s while IMDS updates\)/);
      } finally {
        await imds.close();
        await slow.close();
      }
    });

    it("not stretched: a budget the caller chose, any requestOptions.timeout (even one above 30 s), and beyond 70 s", async () => {
      const imds = await startFakeImds({ faults: [gone(40), gone(40), gone(75)] });
      try {
        const { slept, timing } = virtualTiming();
        const env = safeEnv(imds.env);
        const chosen = await rejection(make(env, timing, { timeBudgetMs: 30_000 }).getToken(VAULT));
        assert.equal(chosen.code, "ERR_BUDGET_EXCEEDED");
        assert.match(chosen.message, /retry in 40000 ms would not fit in the \d+ ms left of this call's time budget \(timeBudgetMs=30000\)\./);
        const capped = await rejection(make(env, timing).getToken(VAULT, { requestOptions: { timeout: 45_000 } }));
        assert.equal(capped.code, "ERR_BUDGET_EXCEEDED");
        const beyond = await rejection(make(env, timing).getToken(VAULT));
        assert.match(beyond.message, /answered 410 and a retry in 75000 ms would not fit/);
        assert.deepEqual(slept, [], "nothing waited");
      } finally {
        await imds.close();
      }
    });
  });

  it("checklist 54 (differs from JS on purpose): 429 is retried with or without Retry-After", async () => {
    const imds = await startFakeImds({
      faults: [json(429, { error: "throttled" }), json(429, { error: "throttled" }, { "Retry-After": "0" }), json(503, { error: "busy" }, { "retry-after-ms": "40" })],
    });
    try {
      const t = await credential(safeEnv(imds.env)).getToken(VAULT);
      assert.equal(t.token, imds.issued[0]);
      assert.equal(imds.tokenRequests().length, 4);
      assert.ok(gaps(imds.tokenRequests())[2]! >= 35, "retry-after-ms honoured");
    } finally {
      await imds.close();
    }
  });

  it("checklist 55: 500 ⇒ 5 retries then unavailable (App Service too)", async () => {
    const app = await startFakeAppService({ faults: times(6, json(500, { statusCode: 500, message: "boom" })) });
    try {
      const err = await rejection(credential(safeEnv(app.env)).getToken(VAULT));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_MI_ENDPOINT_ERROR");
      assert.equal(app.tokenRequests().length, 6);
    } finally {
      await app.close();
    }
  });

  for (const [status, code] of [[501, "ERR_MI_ENDPOINT_ERROR"], [505, "ERR_MI_ENDPOINT_ERROR"], [502, "ERR_MI_UNREACHABLE"]] as const) {
    it(`${status} is not retried (${code})`, async () => {
      const imds = await startFakeImds({ faults: [json(status, { error: "x" })] });
      try {
        const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT));
        assert.equal(err.code, code);
        assert.equal(imds.tokenRequests().length, 1);
      } finally {
        await imds.close();
      }
    });
  }

  it("504 is retried, then a gateway error (unavailable)", async () => {
    const imds = await startFakeImds({ faults: times(6, { status: 504, body: "<html>Gateway Timeout</html>", headers: { "Content-Type": "text/html" } }) });
    try {
      const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT));
      assert.equal(err.code, "ERR_MI_UNREACHABLE");
      assert.match(err.message, /answered 504 \(gateway error\) after 6 attempts: "<html>Gateway Timeout<\/html>"/);
      assert.equal(imds.tokenRequests().length, 6);
    } finally {
      await imds.close();
    }
  });

  it("a Retry-After beyond the budget fails at once with ERR_BUDGET_EXCEEDED", async () => {
    const imds = await startFakeImds({ faults: [json(429, { error: "throttled" }, { "Retry-After": "60" })] });
    try {
      const started = performance.now();
      const err = await rejection(credential(safeEnv(imds.env), { timeBudgetMs: 1000 }).getToken(VAULT));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_BUDGET_EXCEEDED");
      assert.match(err.message, /answered 429 and a retry in 60000 ms would not fit in the \d+ ms left of this call's time budget \(timeBudgetMs=1000\)\. Last answer: IMDS at/);
      assert.equal(imds.tokenRequests().length, 1);
      assert.ok(performance.now() - started < 1000);
    } finally {
      await imds.close();
    }
  });

  it("the whole call, retries included, stays inside timeBudgetMs", async () => {
    const imds = await startFakeImds({ faults: times(6, { status: 500, headers: { "Content-Type": "application/json", "retry-after-ms": "150" }, body: '{"error":"x"}' }) });
    try {
      const started = performance.now();
      const err = await rejection(credential(safeEnv(imds.env), { timeBudgetMs: 400 }).getToken(VAULT));
      assert.equal(err.code, "ERR_BUDGET_EXCEEDED");
      assert.ok(imds.tokenRequests().length >= 2 && imds.tokenRequests().length <= 3, String(imds.tokenRequests().length));
      assert.ok(performance.now() - started < 3 * 400);
    } finally {
      await imds.close();
    }
  });

  it("a connection reset is retried (transient)", async () => {
    const imds = await startFakeImds({ faults: [{ destroy: true }] });
    try {
      const t = await credential(safeEnv(imds.env)).getToken(VAULT);
      assert.equal(t.token, imds.issued[0]);
      assert.equal(imds.tokenRequests().length, 2);
    } finally {
      await imds.close();
    }
  });
});
