/**
 * Concurrency and refresh under failure (issue 6 §6), against real loopback
 * endpoints that count what they receive:
 * - 1,000 concurrent `getToken` calls for 10 resources make exactly 10
 *   upstream requests (per transport, and through DefaultAzureCredential);
 * - a background refresh that fails keeps serving the still-valid token,
 *   does not hammer the endpoint, and is retried until it succeeds;
 * - a token is never served within the expiry margin, let alone past expiry
 *   (real endpoint with a short-lived token; and a simulated day over the
 *   cache with an injected clock and a flaky fetch).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AccessToken } from "@azure/core-auth";
import { EXPIRY_MARGIN_MS, REFRESH_RETRY_MS, TokenCache } from "../../src/cache/tokenCache";
import { DefaultAzureCredential } from "../../src/credentials/defaultAzureCredential";
import { MI_TEST_TIMING, ManagedIdentityCredential, type ManagedIdentityCredentialOptions } from "../../src/credentials/managedIdentityCredential";
import { nativeTransport } from "../../src/transport/http";
import { startFakeImds } from "../fakes/imds";
import { startRawServer, type FakeResponse, type RawServer } from "../fakes/rawServer";
import { useCleanEnv } from "../support/env";
import { MATRIX_TIMING } from "./runFaultCase";

const RESOURCES = Array.from({ length: 10 }, (_, i) => `https://resource-${i}.example.net`);
const CALLS = 1000;
const JSON_TYPE = { "Content-Type": "application/json; charset=utf-8" };

let home: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tokenAnswer(token: string, fields: Record<string, string>): FakeResponse {
  return { status: 200, headers: JSON_TYPE, body: JSON.stringify({ access_token: token, token_type: "Bearer", ...fields }) };
}

/** A counting IMDS-like endpoint: token per request named after its resource; `mode` switches behaviour. */
async function countingEndpoint(delayMs = 30) {
  const perResource = new Map<string, number>();
  const issued: string[] = [];
  const state = {
    mode: "ok" as "ok" | "fail" | "refuse",
    fields: () => ({ expires_in: "3600" }) as Record<string, string>,
  };
  const server: RawServer = await startRawServer((req) => {
    const resource = req.param("resource") ?? "";
    perResource.set(resource, (perResource.get(resource) ?? 0) + 1);
    if (state.mode === "refuse") return { status: 400, headers: JSON_TYPE, body: '{"error":"invalid_request","error_description":"scripted refusal"}' };
    if (state.mode === "fail") return { status: 500, headers: JSON_TYPE, body: '{"error":"unknown","error_description":"scripted failure"}' };
    const token = `tok_${resource.replace(/\W+/g, "_")}_${issued.length}`;
    issued.push(token);
    return { ...tokenAnswer(token, state.fields()), delayMs };
  });
  return { server, perResource, issued, state };
}

function credentialFor(url: string, extra: ManagedIdentityCredentialOptions = {}): ManagedIdentityCredential {
  return new ManagedIdentityCredential({
    env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: url, AZMI_HOME: home, AZMI_ARC_HIMDS_PATH: "/nonexistent/azmi-reliability/himds" },
    timeBudgetMs: 3000,
    ...extra,
    [MI_TEST_TIMING]: MATRIX_TIMING,
  } as ManagedIdentityCredentialOptions);
}

describe("reliability: concurrency and refresh under failure", function () {
  this.timeout(30_000);
  const env = useCleanEnv();
  let savedTransport: string | undefined;

  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-reliability-home-"));
    savedTransport = process.env.AZMI_TRANSPORT;
  });
  after(() => {
    if (savedTransport === undefined) delete process.env.AZMI_TRANSPORT;
    else process.env.AZMI_TRANSPORT = savedTransport;
    fs.rmSync(home, { recursive: true, force: true });
  });

  for (const transport of ["native", "node"] as const) {
    it(`${CALLS} concurrent getToken calls for ${RESOURCES.length} resources ⇒ exactly ${RESOURCES.length} upstream requests (${transport})`, async function () {
      if (transport === "native" && !nativeTransport()) this.skip();
      process.env.AZMI_TRANSPORT = transport;
      const fake = await countingEndpoint();
      try {
        const credential = credentialFor(fake.server.url);
        const calls = Array.from({ length: CALLS }, (_, i) => RESOURCES[i % RESOURCES.length]!);
        const tokens = await Promise.all(calls.map((r) => credential.getToken(`${r}/.default`)));
        assert.equal(fake.server.requests.length, RESOURCES.length, "one request per resource");
        for (const r of RESOURCES) assert.equal(fake.perResource.get(r), 1, r);
        // Everyone asking for one resource got that resource's one token.
        tokens.forEach((t, i) => assert.match(t.token, new RegExp(`^tok_${calls[i]!.replace(/\W+/g, "_")}_\\d+$`)));
        assert.equal(new Set(tokens.map((t) => t.token)).size, RESOURCES.length);
        // And a second wave is served from the cache: still 10.
        await Promise.all(calls.map((r) => credential.getToken(`${r}/.default`)));
        assert.equal(fake.server.requests.length, RESOURCES.length);
      } finally {
        await fake.server.close();
      }
    });
  }

  it(`${CALLS} concurrent calls through DefaultAzureCredential (managed identity only) ⇒ ${RESOURCES.length} upstream requests`, async () => {
    const fake = await countingEndpoint();
    try {
      env.set({ AZURE_POD_IDENTITY_AUTHORITY_HOST: fake.server.url, AZMI_HOME: home });
      const dac = new DefaultAzureCredential({ only: "managed-identity" });
      const calls = Array.from({ length: CALLS }, (_, i) => `${RESOURCES[i % RESOURCES.length]}/.default`);
      const tokens = await Promise.all(calls.map((s) => dac.getToken(s)));
      assert.equal(fake.server.requests.length, RESOURCES.length);
      assert.equal(new Set(tokens.map((t) => t.token)).size, RESOURCES.length);
    } finally {
      await fake.server.close();
    }
  });

  it(`regression: ${CALLS} concurrent DefaultAzureCredential calls for ${RESOURCES.length} resources send one IMDS probe, not ${RESOURCES.length} (the probe was not single-flight: 20 concurrent requests against IMDS's documented limit of 5)`, async () => {
    const imds = await startFakeImds();
    try {
      env.set({ AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url, AZMI_HOME: home, PATH: path.join(home, "no-tools") });
      const dac = new DefaultAzureCredential({ exclude: ["azure-cli", "azure-powershell", "azure-developer-cli"] }); // the full chain probes IMDS
      const calls = Array.from({ length: CALLS }, (_, i) => `${RESOURCES[i % RESOURCES.length]}/.default`);
      await Promise.all(calls.map((s) => dac.getToken(s)));
      const probes = imds.requests.filter((r) => r.header("metadata") === undefined).length;
      assert.equal(imds.tokenRequests().length, RESOURCES.length, "token requests");
      assert.equal(probes, 1, "probes");
    } finally {
      await imds.close();
    }
  });

  it(`${CALLS} concurrent calls during an outage share one failing attempt sequence per resource; after recovery, one request per resource`, async () => {
    const fake = await countingEndpoint(0);
    try {
      fake.state.mode = "fail";
      const credential = credentialFor(fake.server.url);
      const calls = Array.from({ length: CALLS }, (_, i) => `${RESOURCES[i % RESOURCES.length]}/.default`);
      const outcomes = await Promise.allSettled(calls.map((scope) => credential.getToken(scope)));
      assert.ok(outcomes.every((o) => o.status === "rejected" && (o.reason as { code?: string }).code === "ERR_MI_ENDPOINT_ERROR"));
      // 1 + 5 retries per resource, not per caller.
      for (const r of RESOURCES) assert.equal(fake.perResource.get(r), 6, r);
      fake.state.mode = "ok";
      const tokens = await Promise.all(calls.map((scope) => credential.getToken(scope)));
      for (const r of RESOURCES) assert.equal(fake.perResource.get(r), 7, r);
      assert.equal(new Set(tokens.map((t) => t.token)).size, RESOURCES.length);
    } finally {
      await fake.server.close();
    }
  });

  it("scopes that name one resource ('x/.default' and 'x', string or one-element array) share one request", async () => {
    const fake = await countingEndpoint();
    try {
      const credential = credentialFor(fake.server.url);
      const forms = (r: string) => [`${r}/.default`, r, [`${r}/.default`], [r]];
      const calls = RESOURCES.flatMap((r) => Array.from({ length: 25 }, () => forms(r)).flat());
      const tokens = await Promise.all(calls.map((scope) => credential.getToken(scope)));
      assert.equal(fake.server.requests.length, RESOURCES.length);
      assert.equal(new Set(tokens.map((t) => t.token)).size, RESOURCES.length);
    } finally {
      await fake.server.close();
    }
  });

  it("callers that abort leave the shared request and the other callers alone", async () => {
    const fake = await countingEndpoint(300);
    try {
      const credential = credentialFor(fake.server.url);
      const scope = `${RESOURCES[2]}/.default`;
      const controllers = Array.from({ length: 100 }, () => new AbortController());
      const pending = controllers.map((c, i) => credential.getToken(scope, i % 2 ? { abortSignal: c.signal } : {}));
      await sleep(50);
      controllers.forEach((c, i) => i % 2 && c.abort());
      const outcomes = await Promise.allSettled(pending);
      outcomes.forEach((o, i) => {
        if (i % 2) assert.equal(o.status === "rejected" && (o.reason as Error).name, "AbortError", `caller ${i}`);
        else assert.equal(o.status, "fulfilled", `caller ${i}`);
      });
      assert.equal(fake.server.requests.length, 1);
      // The token the aborted callers did not wait for is cached for the next one.
      await credential.getToken(scope);
      assert.equal(fake.server.requests.length, 1);
    } finally {
      await fake.server.close();
    }
  });

  // Regression (review of session 5): the shared fetch used to carry the
  // options of the caller that started it, so that caller's abort or short
  // timeout failed every caller that joined it. Azure SDK clients pass each
  // HTTP request's own abortSignal, so one cancelled request broke the rest.
  for (const [name, make] of [
    ["ManagedIdentityCredential", (url: string) => credentialFor(url)],
    ["DefaultAzureCredential", (url: string) => (env.set({ AZURE_POD_IDENTITY_AUTHORITY_HOST: url, AZMI_HOME: home }), new DefaultAzureCredential({ only: "managed-identity" }))],
    ["DefaultAzureCredential, whole chain", (url: string) => (env.set({ AZURE_POD_IDENTITY_AUTHORITY_HOST: url, AZMI_HOME: home, PATH: path.join(home, "no-tools") }), new DefaultAzureCredential({ exclude: ["azure-cli", "azure-powershell", "azure-developer-cli"] }))],
  ] as const) {
    it(`${name}: the first caller's abort or short timeout ends its own wait only; callers that joined its fetch still get the token`, async () => {
      const fake = await countingEndpoint(400);
      try {
        const scope = `${RESOURCES[3]}/.default`;
        // 1. The first caller aborts after 100 ms; the second has no signal.
        let credential = make(fake.server.url);
        const controller = new AbortController();
        const first = credential.getToken(scope, { abortSignal: controller.signal });
        const second = credential.getToken(scope);
        setTimeout(() => controller.abort(), 100);
        const [a, b] = await Promise.allSettled([first, second]);
        assert.equal(a.status === "rejected" && (a.reason as Error).name, "AbortError");
        assert.equal(b.status, "fulfilled", b.status === "rejected" ? String(b.reason) : "");
        // 2. The first caller's requestOptions.timeout (100 ms) is shorter than the endpoint's 400 ms.
        credential = make(fake.server.url);
        const timed = credential.getToken(scope, { requestOptions: { timeout: 100 } });
        const patient = credential.getToken(scope);
        const [c, d] = await Promise.allSettled([timed, patient]);
        assert.equal(c.status, "rejected", "the caller with the 100 ms timeout gives up");
        assert.equal(d.status, "fulfilled", d.status === "rejected" ? String(d.reason) : "");
        assert.match((d as PromiseFulfilledResult<AccessToken>).value.token, /^tok_/);
      } finally {
        await fake.server.close();
      }
    });
  }

  it("a failure that no caller's limits caused is every caller's at once: 20 callers, each with its own signal that never fires, one upstream attempt sequence", async () => {
    const fake = await countingEndpoint(100);
    fake.state.mode = "refuse";
    try {
      const credential = credentialFor(fake.server.url);
      const started = performance.now();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, () => credential.getToken(`${RESOURCES[4]}/.default`, { abortSignal: new AbortController().signal, requestOptions: { timeout: 2000 } })),
      );
      assert.ok(outcomes.every((o) => o.status === "rejected" && (o.reason as { code?: string }).code === "ERR_MI_ENDPOINT_ERROR"), JSON.stringify(outcomes.map((o) => o.status)));
      assert.equal(fake.server.requests.length, 1, "one request, not one per caller in turn");
      assert.ok(performance.now() - started < 1000, "together, not one after another");
    } finally {
      await fake.server.close();
    }
  });

  it("an already aborted signal is an AbortError at once, for the chain too, and leaves no unhandled rejection behind", async () => {
    const fake = await countingEndpoint(50);
    fake.state.mode = "refuse";
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      env.set({ AZURE_POD_IDENTITY_AUTHORITY_HOST: fake.server.url, AZMI_HOME: home, PATH: path.join(home, "no-tools") });
      for (const credential of [credentialFor(fake.server.url), new DefaultAzureCredential({ exclude: ["azure-cli", "azure-powershell", "azure-developer-cli"] })]) {
        await assert.rejects(credential.getToken(`${RESOURCES[5]}/.default`, { abortSignal: AbortSignal.abort() }), { name: "AbortError" });
      }
      await sleep(300);
      assert.deepEqual(unhandled, []);
      assert.equal(fake.server.requests.length, 0, "nothing was started for an aborted caller");
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await fake.server.close();
    }
  });

  it("a failed background refresh keeps serving the still-valid token, waits before retrying, then picks up the new one", async () => {
    const fake = await countingEndpoint(0);
    try {
      // refresh_in 0.3 s: the token is due for refresh almost at once but valid for an hour.
      fake.state.fields = () => ({ expires_in: "3600", refresh_in: "0.3" });
      const credential = credentialFor(fake.server.url);
      const scope = `${RESOURCES[0]}/.default`;
      const first = await credential.getToken(scope);
      assert.equal(fake.server.requests.length, 1);

      fake.state.mode = "fail";
      await sleep(400);
      const failedAt = Date.now();
      // Due for refresh: this call is answered from the cache and starts one background refresh.
      assert.equal((await credential.getToken(scope)).token, first.token);
      // The refresh retries 500 inside its own budget (6 attempts), then gives up quietly.
      const deadline = Date.now() + 5000;
      while (fake.server.requests.length < 7 && Date.now() < deadline) await sleep(20);
      assert.equal(fake.server.requests.length, 7, "1 + 6 attempts of the failed refresh");
      await sleep(100);

      // While the retry gate is closed, callers get the valid token and the endpoint is left alone.
      for (let i = 0; i < 10; i++) {
        const t = await Promise.all(Array.from({ length: 50 }, () => credential.getToken(scope)));
        assert.ok(t.every((x) => x.token === first.token && x.expiresOnTimestamp === first.expiresOnTimestamp));
        await sleep(25);
      }
      assert.equal(fake.server.requests.length, 7, "no new request before the retry delay");

      // The endpoint recovers; after REFRESH_RETRY_MS a call starts a new refresh, and the new token arrives.
      fake.state.mode = "ok";
      fake.state.fields = () => ({ expires_in: "3600" });
      let got = first.token;
      const until = failedAt + REFRESH_RETRY_MS + 10_000;
      while (got === first.token && Date.now() < until) {
        got = (await credential.getToken(scope)).token;
        await sleep(50);
      }
      assert.notEqual(got, first.token, "the refresh was retried and succeeded");
      assert.ok(Date.now() - failedAt >= REFRESH_RETRY_MS - 500, "the retry waited for REFRESH_RETRY_MS");
      assert.equal(fake.server.requests.length, 8, "exactly one more request for the successful retry");
    } finally {
      await fake.server.close();
    }
  });

  it("through DefaultAzureCredential too: a failed background refresh keeps serving the valid token, one request per retry window", async () => {
    const fake = await countingEndpoint(0);
    try {
      fake.state.fields = () => ({ expires_in: "3600", refresh_in: "0.3" });
      env.set({ AZURE_POD_IDENTITY_AUTHORITY_HOST: fake.server.url, AZMI_HOME: home });
      const dac = new DefaultAzureCredential({ only: "managed-identity" });
      const scope = `${RESOURCES[3]}/.default`;
      const first = await dac.getToken(scope);
      assert.equal(fake.server.requests.length, 1);
      fake.state.mode = "refuse"; // IMDS 400: not retried, so each refresh attempt is exactly one request
      await sleep(400);
      for (let i = 0; i < 10; i++) {
        const t = await Promise.all(Array.from({ length: 50 }, () => dac.getToken(scope)));
        assert.ok(t.every((x) => x.token === first.token), "the still-valid token is served");
        await sleep(30);
      }
      assert.equal(fake.server.requests.length, 2, "one failed refresh, then the retry gate holds (chain and credential caches together)");
      fake.state.mode = "ok";
      fake.state.fields = () => ({ expires_in: "3600" });
      let got = first.token;
      const until = Date.now() + REFRESH_RETRY_MS + 10_000;
      while (got === first.token && Date.now() < until) {
        got = (await dac.getToken(scope)).token;
        await sleep(50);
      }
      assert.notEqual(got, first.token);
      assert.equal(fake.server.requests.length, 3);
    } finally {
      await fake.server.close();
    }
  });

  it("a short-lived token is never served within the expiry margin: callers wait for (and here, get the error of) a new fetch", async () => {
    const fake = await countingEndpoint(0);
    try {
      // Valid for 3 s: servable from the cache for ~2.25 s, then inside its margin (a quarter of its life).
      fake.state.fields = () => ({ expires_in: "3" });
      const credential = credentialFor(fake.server.url, { timeBudgetMs: 1000 });
      const scope = `${RESOURCES[1]}/.default`;
      const first = await credential.getToken(scope);
      fake.state.mode = "fail";
      const served: Array<{ at: number; token: AccessToken }> = [];
      const failures: string[] = [];
      const stop = Date.now() + 4000;
      while (Date.now() < stop) {
        try {
          const t = await credential.getToken(scope);
          served.push({ at: Date.now(), token: t });
        } catch (e) {
          failures.push((e as { code?: string }).code ?? "?");
        }
        await sleep(50);
      }
      assert.ok(served.length > 0, "served from the cache while outside the margin");
      for (const s of served) {
        assert.equal(s.token.token, first.token);
        assert.ok(s.token.expiresOnTimestamp - s.at > Math.min(EXPIRY_MARGIN_MS, 3000 / 4) - 100, `served ${s.token.expiresOnTimestamp - s.at} ms before expiry`);
      }
      assert.ok(failures.length > 0, "once inside the margin, callers no longer get the old token");
      assert.ok(failures.every((c) => c === "ERR_MI_ENDPOINT_ERROR"), failures.join(","));
    } finally {
      await fake.server.close();
    }
  });

  it("simulated day over the cache: with a flaky endpoint, nothing expired (or inside the margin) is ever served", async () => {
    let now = Date.UTC(2026, 10, 29, 0, 0, 0);
    const cache = new TokenCache({ now: () => now });
    let n = 0;
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const lifetimes = [5 * 60_000, 40 * 60_000, 3 * 3600_000]; // inside, around and beyond the refresh rules
    let step = 0;
    let fetchFailures = 0;
    // Flaky all day (50 % of fetches fail), and fully down for ~4 h in the afternoon.
    const down = (s: number) => s >= 14 * 360 && s < 18 * 360;
    const fetch = async (): Promise<AccessToken> => {
      await Promise.resolve();
      if (down(step) || random() < 0.5) {
        fetchFailures++;
        throw new Error("flaky endpoint");
      }
      const life = lifetimes[n % lifetimes.length]!;
      return { token: `t${n++}`, expiresOnTimestamp: now + life };
    };
    let servedCount = 0;
    let failedCount = 0;
    for (step = 0; step < 24 * 60 * 6; step++) {
      now += 10_000; // every 10 s of a simulated day
      try {
        const t = await cache.getToken("k", fetch);
        assert.ok(t.expiresOnTimestamp - now >= EXPIRY_MARGIN_MS, `served a token ${t.expiresOnTimestamp - now} ms before expiry`);
        servedCount++;
      } catch {
        failedCount++;
      }
      // Let background refreshes settle before moving the clock.
      await new Promise((r) => setImmediate(r));
    }
    // The outage outlived every token: callers got errors, never a stale token; the flaky hours were absorbed.
    assert.ok(servedCount > 0 && failedCount > 0 && fetchFailures > failedCount, `${servedCount} served, ${failedCount} failed, ${fetchFailures} fetches failed`);
  });
});
