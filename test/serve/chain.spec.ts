/**
 * `issuer: "chain"`: forwarding to the credential chain with a cache and
 * single-flight in front, selectors forwarded as given, the self-forwarding
 * guard, and upstream failures as clean 400s (lasting) or 500s (passing). Also the per-user state file.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { MsiTokenResponse } from "../../src/credentials/types";
import { AggregateAuthenticationError, AzmiError, CredentialUnavailableError, ErrorCode } from "../../src/errors";
import type { GetManagedTokenOptions } from "../../src/msi";
import { ChainIssuer, MAX_CONCURRENT_UPSTREAM, pointsAtSelf } from "../../src/serve/issuer/chainIssuer";
import { IdentityRegistry } from "../../src/serve/identities";
import { readServerState, serverStatePath, startServer, type RunningServer } from "../../src/serve/server";
import { get, IMDS_PATH, IMDS_QUERY, useTempHome, VAULT } from "./support";

function fakeUpstream(delayMs = 100) {
  const calls: GetManagedTokenOptions[] = [];
  const upstream = async (options: GetManagedTokenOptions): Promise<MsiTokenResponse> => {
    calls.push(options);
    await new Promise((r) => setTimeout(r, delayMs));
    const now = Math.floor(Date.now() / 1000);
    return {
      access_token: `upstream-token-${calls.length}-for-${options.resource}`,
      expires_in: "3600",
      expires_on: String(now + 3600),
      not_before: String(now),
      resource: options.resource!,
      token_type: "Bearer",
      ...(options.clientId ? { client_id: options.clientId } : {}),
    };
  };
  return { calls, upstream };
}

describe("serve: chain issuer", function () {
  this.timeout(30_000);
  const home = useTempHome();

  it("50 concurrent callers cause one upstream call; later callers get the cached token", async () => {
    const { calls, upstream } = fakeUpstream(200);
    const server = await startServer({ env: home.env, issuer: "chain", upstream });
    try {
      const results = await Promise.all(Array.from({ length: 50 }, () => get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" })));
      assert.ok(results.every((r) => r.status === 200));
      const tokens = new Set(results.map((r) => JSON.parse(r.body).access_token));
      assert.deepEqual([...tokens], [`upstream-token-1-for-${VAULT}`]);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.resource, VAULT);
      assert.equal(calls[0]!.clientId, undefined);
      const again = await get(server.port, `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(VAULT)}`, { "X-IDENTITY-HEADER": server.env.IDENTITY_HEADER! });
      assert.equal(JSON.parse(again.body).access_token, `upstream-token-1-for-${VAULT}`);
      assert.equal(calls.length, 1);
      assert.equal(server.issuer, "");
      assert.equal((await get(server.port, `/${server.tenantId}/discovery/v2.0/keys`)).status, 404);
    } finally {
      await server.close();
    }
  });

  it("12 different resources at once: at most MAX_CONCURRENT_UPSTREAM upstream calls (developer tools) run together; all 12 are answered", async () => {
    let running = 0;
    let most = 0;
    const { upstream } = fakeUpstream(50);
    const counted = async (options: GetManagedTokenOptions) => {
      most = Math.max(most, ++running);
      try {
        return await upstream(options);
      } finally {
        running--;
      }
    };
    const server = await startServer({ env: home.env, issuer: "chain", upstream: counted });
    try {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => get(server.port, `${IMDS_PATH}?api-version=2018-02-01&resource=${encodeURIComponent(`https://r${i}.example`)}`, { Metadata: "true" })),
      );
      assert.deepEqual(results.map((r) => r.status), Array(12).fill(200));
      assert.equal(most, MAX_CONCURRENT_UPSTREAM);
    } finally {
      await server.close();
    }
  });

  it("a client that gives up does not free a slot: calls that outlive the deadline (a hanging az) still count, so at most 4 tools run; a freed slot goes to the next waiter", async () => {
    let running = 0;
    let most = 0;
    const finish: (() => void)[] = [];
    // An upstream whose calls end only when the test says (a tool that hangs, then exits).
    const upstream = (options: GetManagedTokenOptions): Promise<MsiTokenResponse> => {
      most = Math.max(most, ++running);
      return new Promise((resolve) => {
        finish.push(() => {
          running--;
          const now = Math.floor(Date.now() / 1000);
          resolve({ access_token: `t-${options.resource}`, expires_in: "3600", expires_on: String(now + 3600), not_before: String(now), resource: options.resource!, token_type: "Bearer" });
        });
      });
    };
    const issuer = new ChainIssuer({ env: {}, upstream, timeoutMs: 50 });
    const system = new IdentityRegistry({ tenantId: "t" }).system;
    const first = Array.from({ length: 6 }, (_, i) => issuer.fetch(system, `https://r${i}.example`).then(() => "token", (e: { code?: string }) => e.code));
    assert.deepEqual(await Promise.all(first), Array(6).fill("ERR_BUDGET_EXCEEDED"), "every client answered by the deadline");
    assert.equal(running, 4, "the four calls still run after their clients gave up; the other two wait");
    // More clients: still at most four at once.
    const more = Array.from({ length: 4 }, (_, i) => issuer.fetch(system, `https://s${i}.example`).catch(() => undefined));
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(most, 4);
    // One tool ends: its slot goes to a waiter, and newcomers arriving around that moment (one per
    // microtask, so one lands between the slot's release and the waiter's start) do not make five.
    finish.shift()!();
    for (let k = 0; k < 12; k++) {
      void issuer.fetch(system, `https://late${k}.example`).catch(() => undefined);
      await null;
    }
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(most, 4);
    while (finish.length > 0) {
      finish.shift()!();
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(more);
    assert.equal(most, 4);
  });

  it("a token that comes after its client gave up is cached, and a client asking meanwhile joins the running call: one upstream call in all", async () => {
    let calls = 0;
    let finish!: () => void;
    const upstream = (options: GetManagedTokenOptions): Promise<MsiTokenResponse> => {
      calls++;
      return new Promise((resolve) => {
        finish = () => {
          const now = Math.floor(Date.now() / 1000);
          resolve({ access_token: `late-${options.resource}`, expires_in: "3600", expires_on: String(now + 3600), not_before: String(now), resource: options.resource!, token_type: "Bearer" });
        };
      });
    };
    const issuer = new ChainIssuer({ env: {}, upstream, timeoutMs: 200 });
    const system = new IdentityRegistry({ tenantId: "t" }).system;
    const resource = "https://vault.azure.net";
    await assert.rejects(issuer.fetch(system, resource), { code: "ERR_BUDGET_EXCEEDED" });
    // Asked again while the first call still runs (a slow az): the same call, not a second tool.
    const again = issuer.fetch(system, resource);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(calls, 1);
    finish();
    assert.equal((await again).accessToken, `late-${resource}`);
    // And the token stays: the next client is answered from the cache.
    assert.equal(issuer.peek(system, resource)?.accessToken, `late-${resource}`);
    assert.equal((await issuer.fetch(system, resource)).accessToken, `late-${resource}`);
    assert.equal(calls, 1);
    // A call that fails after its client gave up is not cached (and is no unhandled rejection): the next client calls again.
    let failLate!: () => void;
    const failing = new ChainIssuer({
      env: {},
      timeoutMs: 200,
      upstream: () => {
        calls++;
        return new Promise((_, reject) => (failLate = () => reject(new AzmiError(ErrorCode.CredentialUnavailable, "az: not logged in"))));
      },
    });
    await assert.rejects(failing.fetch(system, resource), { code: "ERR_BUDGET_EXCEEDED" });
    failLate();
    await new Promise((r) => setTimeout(r, 10));
    const next = failing.fetch(system, resource).catch((e: { code?: string }) => e.code);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(calls, 3);
    failLate();
    assert.equal(await next, "ERR_CREDENTIAL_UNAVAILABLE");
  });

  it("a call that never ends stays the single flight only for a few client deadlines: then the next client starts another (a hung az does not hold its resource, or its background refresh, for good)", async () => {
    let calls = 0;
    const held: (() => void)[] = [];
    const upstream = (options: GetManagedTokenOptions): Promise<MsiTokenResponse> => {
      calls++;
      if (calls === 1) return new Promise((resolve) => held.push(() => resolve(undefined as never)));
      const now = Math.floor(Date.now() / 1000);
      return Promise.resolve({ access_token: `second-${options.resource}`, expires_in: "3600", expires_on: String(now + 3600), not_before: String(now), resource: options.resource!, token_type: "Bearer" });
    };
    const issuer = new ChainIssuer({ env: {}, upstream, timeoutMs: 40 });
    const system = new IdentityRegistry({ tenantId: "t" }).system;
    await assert.rejects(issuer.fetch(system, VAULT), { code: "ERR_BUDGET_EXCEEDED" });
    assert.equal(calls, 1);
    await new Promise((r) => setTimeout(r, 4 * 40 + 20));
    assert.equal((await issuer.fetch(system, VAULT)).accessToken, `second-${VAULT}`);
    assert.equal(calls, 2);
  });

  it("forwards user-assigned selectors as the client gave them", async () => {
    const { calls, upstream } = fakeUpstream(0);
    const server = await startServer({ env: home.env, issuer: "chain", upstream });
    try {
      const byClient = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&client_id=abcdef00-0000-0000-0000-000000000001`, { Metadata: "true" });
      assert.equal(JSON.parse(byClient.body).client_id, "abcdef00-0000-0000-0000-000000000001");
      await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&object_id=abcdef00-0000-0000-0000-000000000002`, { Metadata: "true" });
      await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&msi_res_id=%2Fsubscriptions%2Fs%2Fid`, { Metadata: "true" });
      assert.deepEqual(calls.map((c) => [c.clientId, c.objectId, c.resourceId]), [
        ["abcdef00-0000-0000-0000-000000000001", undefined, undefined],
        [undefined, "abcdef00-0000-0000-0000-000000000002", undefined],
        [undefined, undefined, "/subscriptions/s/id"],
      ]);
    } finally {
      await server.close();
    }
  });

  it("when the host's MI variables point at this server, the managed-identity link is excluded (no loop) and a warning says so", async () => {
    const { calls, upstream } = fakeUpstream(0);
    let warnings: string[] = [];
    let port = 0;
    let server: RunningServer | undefined;
    // The port must be known before the server starts (IDENTITY_ENDPOINT names it): take a free one,
    // free it, and start there; if another process took it in between, try a fresh one.
    for (let attempt = 1; !server; attempt++) {
      const probe = await startServer({ env: home.env });
      port = probe.port;
      await probe.close();
      warnings = [];
      const env = { ...home.env, IDENTITY_ENDPOINT: `http://localhost:${port}/msi/token`, IDENTITY_HEADER: "x" };
      try {
        server = await startServer({ env, port, issuer: "chain", upstream, onWarning: (m) => warnings.push(m) });
      } catch (e) {
        if (attempt >= 5 || (e as { code?: string; cause?: { code?: string } }).cause?.code !== "EADDRINUSE") throw e;
      }
    }
    try {
      await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.deepEqual(calls[0]!.exclude, ["managed-identity"]);
      assert.deepEqual(warnings, [
        `IDENTITY_ENDPOINT points at this azmi serve (127.0.0.1:${port}); the managed-identity link is excluded from the chain so the server does not forward to itself.`,
      ]);
    } finally {
      await server.close();
    }
    assert.equal(pointsAtSelf("http://127.0.0.1:4000", 4000, "0.0.0.0"), true);
    assert.equal(pointsAtSelf("http://127.0.0.1:4001", 4000, "127.0.0.1"), false);
    assert.equal(pointsAtSelf("http://10.1.2.3:4000", 4000, "127.0.0.1"), false);
  });

  it("the cause is found by the error's shape (its tried links), also on an aggregate error that is not this copy's class; a multi-line reason is cut to its first line", async () => {
    const server = await startServer({
      env: home.env,
      issuer: "chain",
      upstream: async () => {
        throw Object.assign(new Error("DefaultAzureCredential authentication failed: no credential in the chain could get a token.\n  (lines as another copy wrote them)"), {
          code: "ERR_ALL_CREDENTIALS_UNAVAILABLE",
          name: "AggregateAuthenticationError",
          tried: [{ link: "managed-identity", outcome: "unavailable", reason: "IMDS at 127.0.0.1:1 refused\nsecond line" }],
        });
      },
    });
    try {
      const r = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(r.status, 400);
      const description = (JSON.parse(r.body) as { error_description: string }).error_description;
      assert.ok(description.includes("could get a token. managed-identity: unavailable (IMDS at 127.0.0.1:1 refused)"), description);
      assert.ok(!description.includes("second line"));
    } finally {
      await server.close();
    }
  });

  it("a chain's failure quotes the first link it tried (the cause), not only its first line or the links it skipped", async () => {
    const server = await startServer({
      env: home.env,
      issuer: "chain",
      upstream: async () => {
        // What the chain throws (chainedTokenCredential.spec checks that a real walk fills `tried` as its message lists the links).
        const reason = 'ManagedIdentityCredential: App Service at 127.0.0.1:1 refused the token request with 400: "Identity not found".';
        throw new AggregateAuthenticationError(
          [new CredentialUnavailableError(reason)],
          `DefaultAzureCredential authentication failed: no credential in the chain could get a token.\n  managed-identity: unavailable (${reason})\n  environment, azure-cli: skipped (not selected (only managed-identity))`,
          [{ link: "managed-identity", outcome: "unavailable", reason }],
        );
      },
    });
    try {
      const r = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(r.status, 400);
      assert.equal(
        (JSON.parse(r.body) as { error_description: string }).error_description,
        "azmi serve got no token from this host's credentials: run 'azmi doctor' on the host (e.g. az login, or a service principal in the environment). " +
          "(ERR_ALL_CREDENTIALS_UNAVAILABLE) DefaultAzureCredential authentication failed: no credential in the chain could get a token. " +
          'managed-identity: unavailable (ManagedIdentityCredential: App Service at 127.0.0.1:1 refused the token request with 400: "Identity not found".)',
      );
    } finally {
      await server.close();
    }
  });

  it("of the links tried, the answer names the one that tells most: a refusal, else a developer tool (az login), not the first (environment)", async () => {
    const tried = [
      { link: "environment", outcome: "unavailable", reason: "EnvironmentCredential is unavailable: AZURE_TENANT_ID is not set" },
      { link: "workload-identity", outcome: "unavailable", reason: "WorkloadIdentityCredential is unavailable: AZURE_FEDERATED_TOKEN_FILE is not set" },
      { link: "azure-cli", outcome: "unavailable", reason: "Please run 'az login' to set up an account." },
      { link: "azure-developer-cli", outcome: "unavailable", reason: "azd is not installed" },
    ];
    const description = async (links: typeof tried) => {
      const server = await startServer({
        env: home.env,
        issuer: "chain",
        upstream: async () => {
          throw new AggregateAuthenticationError([], "DefaultAzureCredential authentication failed: no credential in the chain could get a token.\n(list)", links);
        },
      });
      try {
        const r = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
        assert.equal(r.status, 400);
        return (JSON.parse(r.body) as { error_description: string }).error_description;
      } finally {
        await server.close();
      }
    };
    assert.match(await description(tried), /^azmi serve got no token from this host's credentials: run 'azmi doctor' on the host .* azure-cli: unavailable \(Please run 'az login' to set up an account\.\)$/);
    const refused = [...tried, { link: "azure-powershell", outcome: "failed", reason: "AADSTS700082: the refresh token has expired" }];
    assert.match(await description(refused), / azure-powershell: failed \(AADSTS700082: the refresh token has expired\)$/);
  });

  it("no usable upstream link (nobody logged in) is a 400 no SDK retries, in the dialect's shape, not cached; the next call asks again", async () => {
    let n = 0;
    const server = await startServer({
      env: home.env,
      issuer: "chain",
      upstream: async (o) => {
        n++;
        if (n === 1) throw Object.assign(new Error("ChainedTokenCredential authentication failed."), { code: "ERR_ALL_CREDENTIALS_UNAVAILABLE" });
        return fakeUpstream(0).upstream(o);
      },
    });
    try {
      const first = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(first.status, 400);
      assert.deepEqual(JSON.parse(first.body), {
        error: "invalid_request",
        error_description:
          "azmi serve got no token from this host's credentials: run 'azmi doctor' on the host (e.g. az login, or a service principal in the environment)." +
          " (ERR_ALL_CREDENTIALS_UNAVAILABLE) ChainedTokenCredential authentication failed.",
      });
      const second = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(second.status, 200);
      assert.equal(n, 2);
    } finally {
      await server.close();
    }
  });

  it("a passing upstream failure (the chain ran out of its time, as getManagedToken reports it) is a 500, which clients retry", async () => {
    const server = await startServer({
      env: home.env,
      issuer: "chain",
      // What getManagedToken throws when its timeoutMs runs out (src/msi.ts): a slow link, e.g. az on a busy machine.
      upstream: async (o) => {
        throw new AzmiError(ErrorCode.BudgetExceeded, `No token for ${o.resource} within timeoutMs=30000 ms; run 'azmi doctor' to see which link is slow.`);
      },
    });
    try {
      const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(res.status, 500);
      assert.equal(JSON.parse(res.body).error, "unknown");
      assert.match(JSON.parse(res.body).error_description, /\(ERR_BUDGET_EXCEEDED\): No token for https:\/\/vault\.azure\.net within timeoutMs=\d+ ms/);
    } finally {
      await server.close();
    }
  });
});

describe("serve: state file", () => {
  const home = useTempHome();

  it("is written 0600 with url, pid and env when asked, read back while alive, removed on close", async () => {
    const server = await startServer({ env: home.env, stateFile: true });
    const file = serverStatePath(home.env);
    assert.equal(server.stateFile, file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const state = readServerState(home.env)!;
    assert.equal(state.url, server.url);
    assert.equal(state.port, server.port);
    assert.equal(state.pid, process.pid);
    assert.deepEqual(state.env, server.env);
    assert.deepEqual(state.dialects.appService, server.dialects.appService);
    assert.equal(state.oidcIssuer, server.issuer);
    await server.close();
    assert.equal(fs.existsSync(file), false);
    assert.equal(readServerState(home.env), undefined);
  });

  it("a second server with the state file in the same process is refused as this process's own, not another's", async () => {
    const first = await startServer({ env: home.env, stateFile: true });
    try {
      await assert.rejects(startServer({ env: home.env, stateFile: true }), (e: Error) => {
        assert.match(e.message, new RegExp(`this process already runs an azmi server at ${first.url} with the same state file`));
        assert.doesNotMatch(e.message, /another azmi server|pid \d/);
        return true;
      });
    } finally {
      await first.close();
    }
  });

  it("two servers with one state file started at the same moment: exactly one starts, the other is refused (both found no state file at their start)", async () => {
    const outcomes = await Promise.allSettled([startServer({ env: home.env, stateFile: true }), startServer({ env: home.env, stateFile: true })]);
    const started = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as Error] : []));
    try {
      assert.equal(started.length, 1, `started: ${started.length}; refused: ${refused.map((e) => e.message).join(" / ")}`);
      assert.equal(refused.length, 1);
      assert.match(refused[0]!.message, new RegExp(`this process already runs an azmi server at ${started[0]!.url} with the same state file`));
      assert.equal(readServerState(home.env)?.url, started[0]!.url);
      assert.deepEqual(fs.readdirSync(path.dirname(serverStatePath(home.env))).filter((n) => n.endsWith(".tmp")), [], "no temp files");
    } finally {
      for (const s of started) await s.close();
    }
    assert.equal(fs.existsSync(serverStatePath(home.env)), false);
  });

  it("a file left by a dead process is ignored and cleaned; the default is no file", async () => {
    const file = serverStatePath(home.env);
    fs.writeFileSync(file, JSON.stringify({ url: "http://127.0.0.1:1", port: 1, host: "127.0.0.1", pid: 2 ** 22 + 12345, env: {}, dialects: {}, issuer: "local", startedAt: "" }));
    assert.equal(readServerState(home.env), undefined);
    assert.equal(fs.existsSync(file), false);
    const server = await startServer({ env: home.env });
    assert.equal(server.stateFile, undefined);
    assert.equal(fs.existsSync(file), false);
    await server.close();
  });
});
