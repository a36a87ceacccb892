import * as assert from "node:assert/strict";
import * as net from "node:net";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { decodeJwt } from "jose";
import { diagnose, getManagedToken, getManagedTokenWithReport, resetManagedTokenChains, toMsiResponse } from "../src/msi";
import { EnvironmentCredential } from "../src/credentials/environmentCredential";
import { AzmiError, ErrorCode } from "../src/errors";
import { startFakeCloudShell } from "./fakes/cloudShell";
import { startFakeMsi2017 } from "./fakes/machineLearning";
import { startRawServer } from "./fakes/rawServer";
import { fakeAccessToken, startEntraFake, type EntraFake } from "./fakes/entra";
import { useCleanEnv } from "./support/env";
import { ROOT } from "./cli/support";
import { captureLogs, closedPort, startImdsFake, tempDir, useLoopbackGuard, useTempAzmiHome, type ImdsFake } from "./credentials/support";

const MSI_KEYS = ["access_token", "expires_in", "expires_on", "not_before", "resource", "token_type"];

describe("getManagedToken / diagnose", function () {
  useCleanEnv();
  useTempAzmiHome();
  useLoopbackGuard();
  let imds: ImdsFake;
  let dir: string;
  let entra: EntraFake;
  const SECRET = "msi-test-client-secret-000111222";

  before(async () => {
    dir = tempDir();
    entra = await startEntraFake({ clients: { "env-app": { secret: SECRET } } });
  });
  after(async () => {
    await entra.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** A fresh AZMI_HOME per test: the cross-process probe memo lives there. */
  let home: string;
  beforeEach(async () => {
    resetManagedTokenChains();
    home = tempDir("azmi-home-");
    imds = await startImdsFake({ expiresIn: 3600 });
  });
  afterEach(async () => {
    await imds.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const env = (vars: Record<string, string> = {}) => ({ PATH: dir, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: imds.url, ...vars });

  it("returns exactly the MSI endpoint shape: keys in order, numbers as strings, client_id when known", async () => {
    const before = Math.floor(Date.now() / 1000);
    const msi = await getManagedToken({ resource: "https://management.azure.com", env: env() });
    assert.deepEqual(Object.keys(msi), [...MSI_KEYS, "client_id"]);
    for (const v of Object.values(msi)) assert.equal(typeof v, "string");
    assert.equal(msi.access_token, imds.issued[0]);
    assert.equal(msi.resource, "https://management.azure.com");
    assert.equal(msi.token_type, "Bearer");
    const claims = decodeJwt(msi.access_token);
    assert.equal(msi.expires_on, String(claims.exp));
    assert.equal(msi.not_before, String(claims.nbf));
    assert.equal(msi.client_id, "11111111-2222-3333-4444-555555555555");
    const expiresIn = Number(msi.expires_in);
    assert.ok(expiresIn <= 3600 && expiresIn >= Number(msi.expires_on) - Math.floor(Date.now() / 1000) - 1, msi.expires_in);
    assert.ok(Number(msi.expires_on) >= before + 3599);
    assert.match(imds.requests.at(-1)!.url, /resource=https%3A%2F%2Fmanagement\.azure\.com(&|$)/);
  });

  it("resource ↔ scope round-trips, trailing slash included (checklist 1–3)", async () => {
    const a = await getManagedToken({ resource: "https://management.azure.com/", env: env() });
    assert.equal(a.resource, "https://management.azure.com/");
    assert.match(imds.requests.at(-1)!.url, /resource=https%3A%2F%2Fmanagement\.azure\.com%2F(&|$)/);
    const b = await getManagedToken({ scope: "https://vault.azure.net/.default", env: env() });
    assert.equal(b.resource, "https://vault.azure.net");
    const c = await getManagedToken({ scope: "https://vault.azure.net//.default", env: env() });
    assert.equal(c.resource, "https://vault.azure.net/");
  });

  it("a resource that cannot be an audience is refused before any link runs, naming what is wrong (as the CLI's --resource)", async () => {
    const before = imds.requests.length;
    for (const [resource, why] of [
      ["a b", /resource 'a b' contains a space at position 2\./],
      ["https://vault.azure.net\u001b[31m", /contains a control character \(U\+001B\) at position 24/],
      ["https://v\u00e4ult", /'\u00e4' \(U\+00E4, not ASCII\) at position 10/],
      ["x".repeat(2049), /is 2049 characters long \(at most 2048\)/],
    ] as const) {
      await assert.rejects(getManagedToken({ resource, env: env() }), (e: Error & { code?: string }) => {
        assert.equal(e.code, ErrorCode.InvalidArgument);
        assert.match(e.message, why);
        assert.doesNotMatch(e.message, /\u001b/, "a control character is shown escaped, never sent to the terminal");
        return true;
      });
    }
    assert.equal(imds.requests.length, before, "no request was made");
  });

  it("forceRefresh reaches the managed-identity link's own cache: a new request, a new token; diagnose() sees the endpoint as it is now", async () => {
    const first = await getManagedToken({ resource: "https://storage.azure.com", env: env() });
    const tokenRequests = () => imds.requests.filter((q) => q.headers.metadata === "true").length;
    const before = tokenRequests();
    const forced = await getManagedToken({ resource: "https://storage.azure.com", env: env(), forceRefresh: true });
    assert.equal(tokenRequests(), before + 1, "forceRefresh asked the endpoint again");
    assert.notEqual(forced.access_token, first.access_token);
    // The endpoint goes away: diagnose() (which ignores every cache) must say so, not repeat a cached success.
    const url = imds.url;
    await imds.close();
    const report = await diagnose({ resource: "https://storage.azure.com", env: { PATH: dir, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: url } });
    assert.equal(report.tokenAcquired, false);
    imds = await startImdsFake({ expiresIn: 3600 }); // for afterEach
  });

  it("one process-wide chain per option set: the second call is a cache hit", async () => {
    await getManagedToken({ resource: "https://storage.azure.com", env: env() });
    const n = imds.requests.length;
    const { msi, report } = await getManagedTokenWithReport({ resource: "https://storage.azure.com", env: env() });
    assert.ok(msi);
    assert.equal(imds.requests.length, n);
    assert.equal(report.fromCache, true);
    assert.equal(report.winner, "managed-identity");
  });

  it("a Cloud Shell answer is passed on as given: it sends no client_id, so neither does the MSI shape (not even from the JWT's appid)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = fakeAccessToken({ aud: "https://vault.azure.net", appid: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", nbf: now - 60, exp: now + 3900 });
    const shell = await startFakeCloudShell({ token: jwt });
    try {
      const { msi, report } = await getManagedTokenWithReport({ resource: "https://vault.azure.net", env: { PATH: dir, AZMI_HOME: home, ...shell.env } });
      assert.equal(report.winner, "managed-identity");
      assert.deepEqual(Object.keys(msi!), MSI_KEYS, "the keys Invoke-RestMethod sees from Cloud Shell, minus refresh_token");
      assert.equal(msi!.access_token, jwt);
      // Other endpoints' answers keep the claims fallback: App Service 2017 / Machine Learning sends no client_id either, but its token's appid is the identity's.
      const msi2017 = await startFakeMsi2017({ token: jwt });
      try {
        resetManagedTokenChains();
        const other = await getManagedToken({ resource: "https://vault.azure.net", env: { PATH: dir, AZMI_HOME: home, ...msi2017.env } });
        assert.equal(other.access_token, jwt);
        assert.equal(other.client_id, "c44b4083-3bb0-49c1-b47d-974e53cbdf3c");
      } finally {
        await msi2017.close();
      }
    } finally {
      await shell.close();
    }
  });

  it("resource is the endpoint's own when it names one (as Invoke-RestMethod shows it), else the one asked for", async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = fakeAccessToken({ aud: "https://vault.azure.net/", nbf: now, exp: now + 3900 });
    // A Cloud Shell that answers with its own form of the resource (a trailing slash).
    const shell = await startRawServer(() => ({
      status: 200,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ access_token: jwt, refresh_token: "", expires_in: "3900", expires_on: String(now + 3900), not_before: String(now), resource: "https://vault.azure.net/", token_type: "Bearer" }),
    }));
    try {
      resetManagedTokenChains();
      const msi = await getManagedToken({ resource: "https://vault.azure.net", env: { PATH: dir, AZMI_HOME: home, MSI_ENDPOINT: `${shell.url}/oauth2/token` } });
      assert.equal(msi.resource, "https://vault.azure.net/");
    } finally {
      await shell.close();
    }
    // A token without one (an Entra or developer-tool token) keeps the resource asked for.
    assert.equal(toMsiResponse({ token: jwt, expiresOnTimestamp: (now + 3900) * 1000 }, "https://vault.azure.net").resource, "https://vault.azure.net");
  });

  it("Entra tokens: not_before from the JWT nbf and client_id from appid", async () => {
    const credential = new EnvironmentCredential({
      env: { AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "env-app", AZURE_CLIENT_SECRET: SECRET, AZURE_AUTHORITY_HOST: entra.authorityHost },
      disableInstanceDiscovery: true,
      agent: entra.agent(),
    });
    const out = await getManagedToken({ resource: "https://vault.azure.net", credential });
    const claims = decodeJwt(out.access_token);
    assert.deepEqual(Object.keys(out), [...MSI_KEYS, "client_id"]);
    assert.equal(out.not_before, String(claims.nbf));
    assert.equal(out.client_id, "env-app");
    // MSAL counts expiry from its own request time (+expires_in), so it may differ from exp by a second
    assert.ok(Math.abs(Number(out.expires_on) - (claims.exp as number)) <= 2, `${out.expires_on} vs ${claims.exp}`);
  });

  it("toMsiResponse: not_before falls back to now, client_id omitted when unknown, expires_in never negative", () => {
    const now = 1_800_000_000_000;
    const token: AccessToken = { token: "opaque-token-without-claims", expiresOnTimestamp: now + 600_500 };
    assert.deepEqual(toMsiResponse(token, "https://x", now), {
      access_token: "opaque-token-without-claims",
      expires_in: "600",
      expires_on: "1800000600",
      not_before: "1800000000",
      resource: "https://x",
      token_type: "Bearer",
    });
    assert.equal(toMsiResponse({ token: "opaque-token-2", expiresOnTimestamp: now - 5000 }, "r", now).expires_in, "0");
  });

  it("validates options: exactly one of resource/scope, one selector, positive timeoutMs", async () => {
    // A JavaScript caller that passes nothing gets the same advice, not a TypeError about `forceRefresh`.
    for (const call of [() => (getManagedToken as () => Promise<unknown>)(), () => (getManagedTokenWithReport as () => Promise<unknown>)()]) {
      await assert.rejects(call(), { code: ErrorCode.InvalidArgument, message: /^getManagedToken needs an options object/ });
    }
    await assert.rejects(getManagedToken({}), {
      code: ErrorCode.InvalidArgument,
      message: "Give exactly one of resource (e.g. 'https://management.azure.com') or scope (e.g. 'https://management.azure.com/.default').",
    });
    await assert.rejects(getManagedToken({ resource: "a", scope: "a/.default" }), { code: ErrorCode.InvalidArgument });
    // A scope is held to the resource's rule: an escape character or a non-ASCII letter never reaches an endpoint.
    await assert.rejects(getManagedToken({ scope: "https://vault.azure.net/.default\u001b[2J" }), {
      code: ErrorCode.InvalidArgument,
      message:
        "scope 'https://vault.azure.net/.default\\u001b[2J' contains a control character (U+001B) at position 33. A scope is one scope of 1 to 2048 visible ASCII characters without spaces (plus /.default), e.g. https://vault.azure.net/.default.",
    });
    await assert.rejects(getManagedToken({ scope: "https://v\u00e4ult.azure.net/.default" }), {
      code: ErrorCode.InvalidArgument,
      message: /^scope 'https:\/\/v\u00e4ult.azure.net\/.default' contains '\u00e4' \(U\+00E4, not ASCII\) at position 10\. A scope is/,
    });
    await assert.rejects(getManagedToken({ scope: "a/.default b/.default" }), { code: ErrorCode.InvalidArgument, message: /contains a space at position 11/ });
    await assert.rejects(getManagedToken({ resource: "https://x", clientId: "a", objectId: "b" }), {
      code: ErrorCode.InvalidArgument,
      message: "Only one of clientId, objectId or resourceId can select the identity (got clientId and objectId).",
    });
    await assert.rejects(getManagedToken({ resource: "https://x", timeoutMs: -5 }), {
      message: "timeoutMs must be a positive number of milliseconds; got -5.",
    });
    await assert.rejects(getManagedToken({ resource: "https://x", timeoutMs: "100" as never }), {
      message: 'timeoutMs must be a positive number of milliseconds; got the string "100".',
    });
  });

  it("timeoutMs bounds the whole call (ERR_BUDGET_EXCEEDED) and aborts the credential", async () => {
    let signal: { aborted: boolean } | undefined;
    const never: TokenCredential = {
      getToken: (_s, o) => {
        signal = o?.abortSignal;
        return new Promise(() => undefined);
      },
    };
    const started = Date.now();
    await assert.rejects(getManagedToken({ resource: "https://x", timeoutMs: 50, credential: never }), {
      code: ErrorCode.BudgetExceeded,
      message: "No token for https://x within timeoutMs=50 ms; the report shows which link was cut short.",
    });
    assert.ok(Date.now() - started < 3000);
    assert.equal(signal?.aborted, true);
  });

  it("getManagedTokenWithReport says timedOut only when timeoutMs ended the call, not for a link's own budget error", async () => {
    const never: TokenCredential = { getToken: () => new Promise(() => undefined) };
    const cut = await getManagedTokenWithReport({ resource: "https://x", timeoutMs: 50, credential: never });
    assert.equal(cut.timedOut, true);
    assert.equal((cut.error as AzmiError).code, ErrorCode.BudgetExceeded);
    // A credential's own ERR_BUDGET_EXCEEDED (e.g. managed identity's retries) within timeoutMs is not the call's timeout.
    const own: TokenCredential = { getToken: () => Promise.reject(new AzmiError(ErrorCode.BudgetExceeded, "a retry would not fit")) };
    const failed = await getManagedTokenWithReport({ resource: "https://x", timeoutMs: 5000, credential: own });
    assert.equal((failed.error as AzmiError).code, ErrorCode.BudgetExceeded);
    assert.equal(failed.timedOut, undefined);
    assert.ok(!("timedOut" in failed));
    // A link that settles with its own error as the budget's abort reaches it wins the race: that error is not the timeout.
    const racing = {
      getToken: () => new Promise<never>(() => undefined),
      getTokenWithReport: (_scope: string, o: { abortSignal?: AbortSignal }) =>
        new Promise((resolve) => {
          o.abortSignal!.addEventListener("abort", () =>
            resolve({ report: { links: [], transport: "node", ms: 0 }, error: new AzmiError(ErrorCode.CredentialUnavailable, "its own error") }),
          );
        }),
    } as unknown as TokenCredential;
    const raced = await getManagedTokenWithReport({ resource: "https://x", timeoutMs: 30, credential: racing });
    assert.equal((raced.error as AzmiError).message, "its own error");
    assert.ok(!("timedOut" in raced), "timedOut with a link's own error");
  });

  it("the report names the link the time budget cut short, and why, not 'The operation was aborted.'", async () => {
    const hang = net.createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", () => r()));
    const port = (hang.address() as net.AddressInfo).port;
    try {
      const silent = { ...env(), IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: "h" };
      const { report, error } = await getManagedTokenWithReport({ resource: "https://x", timeoutMs: 300, env: silent, exclude: ["azure-cli", "azure-powershell", "azure-developer-cli"] });
      assert.equal((error as { code?: string }).code, ErrorCode.BudgetExceeded);
      const mi = report.links.find((l) => l.link === "managed-identity")!;
      assert.equal(mi.outcome, "failed");
      assert.match(mi.reason, /^cut short after \d+ ms: the call's time budget ran out$/);
      // A caller's own abort says so too, and the links after it were not tried because of it.
      const { ChainedTokenCredential } = require("../src/credentials/chainedTokenCredential") as typeof import("../src/credentials/chainedTokenCredential");
      const { ManagedIdentityCredential } = require("../src/credentials/managedIdentityCredential") as typeof import("../src/credentials/managedIdentityCredential");
      const chain = new ChainedTokenCredential(new ManagedIdentityCredential({ env: silent }), new EnvironmentCredential());
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200).unref();
      await assert.rejects(chain.getToken("https://x/.default", { abortSignal: controller.signal }));
      const [first, second] = chain.lastReport!.links;
      assert.match(first!.reason, /^cut short after \d+ ms: the caller aborted \(abortSignal\)$/);
      assert.equal(second!.reason, "not tried: the call was cut short");

      // A link that ignores the signal and then fails on its own keeps its own reason.
      const stubborn: TokenCredential = {
        getToken: () => new Promise((_resolve, reject) => setTimeout(() => reject(new Error("run az login first")), 150)),
      };
      const early = new AbortController();
      const own = new ChainedTokenCredential(stubborn);
      setTimeout(() => early.abort(), 20).unref();
      await assert.rejects(own.getToken("https://x/.default", { abortSignal: early.signal }));
      await new Promise((r) => setTimeout(r, 250)); // the chain let the caller go at once; the link settles later
      assert.equal(own.lastReport!.links[0]!.reason, "run az login first");
    } finally {
      hang.close();
    }
  });

  it("clientId selects the user-assigned identity", async () => {
    const msi = await getManagedToken({ resource: "https://x", clientId: "33333333-0000-0000-0000-000000000000", env: env() });
    assert.equal(msi.client_id, "33333333-0000-0000-0000-000000000000");
    assert.match(imds.requests.at(-1)!.url, /client_id=33333333-0000-0000-0000-000000000000/);
  });

  it("diagnose: report for every link, expiry and client id, never the token", async () => {
    const result = await diagnose({ resource: "https://management.azure.com", env: env() });
    assert.equal(result.tokenAcquired, true);
    assert.equal(result.winner, "managed-identity");
    assert.equal(result.resource, "https://management.azure.com");
    assert.equal(result.scope, "https://management.azure.com/.default");
    assert.equal(result.links.length, 6);
    assert.equal(typeof result.expiresOn, "number");
    const text = JSON.stringify(result);
    for (const t of imds.issued) assert.ok(!text.includes(t));
    assert.ok(!text.includes("eyJ"));
  });

  it("an install without the native addon (npm install --ignore-scripts, a bundled app) says so: diagnose().transportReason and the info log", async () => {
    // A real process of the package, whose addon path leads nowhere.
    const script = `require(${JSON.stringify(ROOT)}).diagnose({ resource: "https://management.azure.com" }).then((d) => console.log(JSON.stringify(d)));`;
    const missing = `${dir}/not-built/azmi.node`;
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(process.execPath, ["-e", script], { env: env({ AZMI_NATIVE_PATH: missing, AZURE_LOG_LEVEL: "info" }), encoding: "utf8" }, (e, stdout, stderr) =>
        e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve({ stdout, stderr }),
      ),
    );
    const result = JSON.parse(r.stdout) as { tokenAcquired: boolean; transport: string; transportReason?: string };
    assert.equal(result.tokenAcquired, true, r.stderr);
    assert.equal(result.transport, "node");
    assert.match(result.transportReason ?? "", /^native addon unavailable \(.*not-built\/azmi\.node.*\); using the node:net fallback$/);
    assert.match(r.stderr, /ManagedIdentityCredential => getToken\(\) => transport: native addon unavailable \(.*not-built/);
  });

  it("diagnose walks from the start even after a winner is remembered", async () => {
    await getManagedToken({ resource: "https://management.azure.com", env: env() });
    const result = await diagnose({ resource: "https://management.azure.com", env: env() });
    assert.equal(result.fromMemo, undefined);
    assert.equal(result.fromCache, undefined);
    assert.equal(result.links[0]!.outcome, "unavailable");
  });

  it("diagnose when nothing works: the error without secrets, tokenAcquired false", async () => {
    const result = await diagnose({
      resource: "https://management.azure.com",
      env: { PATH: dir, AZMI_HOME: home, AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${await closedPort()}` },
    });
    assert.equal(result.tokenAcquired, false);
    assert.equal(result.error!.name, "AggregateAuthenticationError");
    assert.equal(result.error!.code, ErrorCode.AllCredentialsUnavailable);
  });

  it("secrets never reach logs, messages or reports (AZURE_LOG_LEVEL=verbose)", async () => {
    const logs = captureLogs("verbose");
    try {
      const msi = await getManagedToken({ resource: "https://management.azure.com", env: env() });
      const failed = await getManagedTokenWithReport({
        resource: "https://management.azure.com",
        only: "environment",
        // loopback only: an authority where nothing listens
        env: env({
          AZURE_TENANT_ID: entra.tenant, AZURE_CLIENT_ID: "env-app", AZURE_CLIENT_SECRET: "leaky-secret-should-not-appear-1",
          AZURE_AUTHORITY_HOST: `https://127.0.0.1:${await closedPort()}`,
        }),
      });
      const text = [logs.lines.join("\n"), JSON.stringify(failed.report), String((failed.error as Error)?.message)].join("\n");
      assert.ok(!text.includes(msi.access_token));
      assert.ok(!text.includes("leaky-secret-should-not-appear-1"));
      assert.ok(!text.includes(fakeAccessToken({}).slice(0, 0) + "eyJ0eXAi"), "no JWT header in logs");
    } finally {
      logs.stop();
    }
  });
});
