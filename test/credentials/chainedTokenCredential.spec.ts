import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { ChainedTokenCredential } from "../../src/credentials/chainedTokenCredential";
import { AggregateAuthenticationError, AuthenticationError, CredentialUnavailableError, ErrorCode } from "../../src/errors";
import { DefaultAzureCredential } from "../../src/credentials/defaultAzureCredential";

/** A small real credential whose behaviour the test scripts call by call. */
class ScriptedCredential implements TokenCredential {
  calls = 0;
  constructor(
    readonly credentialName: string,
    public behaviour: "token" | "unavailable" | "for-now" | "fail" | "null",
    private readonly lifetimeMs = 3600_000,
  ) {}
  describe(): string {
    return `scripted ${this.credentialName}`;
  }
  async getToken(_scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken | null> {
    this.calls++;
    switch (this.behaviour) {
      case "token":
        return { token: `token-of-${this.credentialName}-${this.calls}-padding`, expiresOnTimestamp: Date.now() + this.lifetimeMs };
      case "unavailable":
        throw new CredentialUnavailableError(`${this.credentialName} is not here`);
      case "for-now":
        // What the managed-identity link throws for a 5xx or a slow endpoint: unavailable, for now.
        throw Object.assign(new CredentialUnavailableError(`${this.credentialName} answered 503`, { code: ErrorCode.MiEndpointError }), { transient: true });
      case "null":
        return null;
      default:
        throw new AuthenticationError(`${this.credentialName} said no`, { statusCode: 401 });
    }
  }
}

const SCOPE = "https://vault.azure.net/.default";

describe("ChainedTokenCredential", () => {
  it("continues on unavailable (and null), stops on AuthenticationError (checklist 59)", async () => {
    const a = new ScriptedCredential("A", "unavailable");
    const n = new ScriptedCredential("N", "null");
    const b = new ScriptedCredential("B", "fail");
    const c = new ScriptedCredential("C", "token");
    const chain = new ChainedTokenCredential(a, n, b, c);
    await assert.rejects(chain.getToken(SCOPE), { name: "AuthenticationError", message: "B said no" });
    assert.deepEqual([a.calls, n.calls, b.calls, c.calls], [1, 1, 1, 0]);
    const r = chain.lastReport!;
    assert.deepEqual(
      r.links.map((l) => [l.link, l.outcome, l.reason]),
      [
        ["A", "unavailable", "A is not here"],
        ["N", "unavailable", "returned no token"],
        ["B", "failed", "B said no"],
        ["C", "skipped", "not tried: chain stopped at B"],
      ],
    );
    assert.equal(r.winner, undefined);
  });

  it("continues on @azure/identity's AuthenticationRequiredError, as its chain does (checklist 59, 61)", async () => {
    const { AuthenticationRequiredError } = await import("@azure/identity");
    const required: TokenCredential = {
      getToken: async () => {
        throw new AuthenticationRequiredError({ scopes: [SCOPE], message: "interactive sign-in needed" });
      },
    };
    const c = new ScriptedCredential("C", "token");
    const chain = new ChainedTokenCredential(required, c);
    const token = await chain.getToken(SCOPE);
    assert.equal(token.token, "token-of-C-1-padding");
    assert.deepEqual(
      chain.lastReport!.links.map((l) => l.outcome),
      ["unavailable", "selected"],
    );
  });

  it("all unavailable ⇒ AggregateAuthenticationError with every link's reason", async () => {
    const chain = new ChainedTokenCredential(new ScriptedCredential("A", "unavailable"), new ScriptedCredential("B", "unavailable"));
    await assert.rejects(chain.getToken(SCOPE), (e: Error & { code: string; errors: unknown[] }) => {
      assert.equal(e.name, "AggregateAuthenticationError");
      assert.equal(e.code, ErrorCode.AllCredentialsUnavailable);
      assert.equal(e.errors.length, 2);
      assert.equal(
        e.message,
        "ChainedTokenCredential authentication failed: no credential in the chain could get a token.\n  A: unavailable (A is not here)\n  B: unavailable (B is not here)",
      );
      return true;
    });
  });

  it("a chain built with no credentials says so, instead of an empty list", async () => {
    await assert.rejects(new ChainedTokenCredential().getToken(SCOPE), {
      name: "AggregateAuthenticationError",
      message: "ChainedTokenCredential authentication failed: the chain has no credentials (it was constructed with none); pass at least one TokenCredential.",
    });
  });

  it("the aggregate names the links it tried (not those left out) as its message lists them: `tried`, for callers that quote the cause", async () => {
    const chain = new ChainedTokenCredential(new ScriptedCredential("A", "unavailable"), new ScriptedCredential("B", "unavailable"));
    const error = await chain.getToken(SCOPE).then(() => assert.fail("no token expected"), (e: unknown) => e);
    assert.ok(error instanceof AggregateAuthenticationError);
    assert.deepEqual(error.tried, [
      { link: "A", outcome: "unavailable", reason: "A is not here" },
      { link: "B", outcome: "unavailable", reason: "B is not here" },
    ]);
    const dac = new DefaultAzureCredential({ only: "managed-identity", env: { IDENTITY_ENDPOINT: "http://127.0.0.1:9/msi/token", IDENTITY_HEADER: "header-secret-value" } });
    const refused = await dac.getToken(SCOPE).then(() => assert.fail("no token expected"), (e: unknown) => e);
    assert.ok(refused instanceof AggregateAuthenticationError);
    assert.equal(refused.tried.length, 1, "links left out by `only` are not tried");
    const [t] = refused.tried;
    assert.equal(t!.link, "managed-identity");
    assert.equal(t!.outcome, "unavailable");
    assert.ok(refused.message.split("\n").includes(`  ${t!.link}: ${t!.outcome} (${t!.reason})`), refused.message);
    assert.ok(!Object.keys(refused).includes("tried"), "tried is not enumerable: printed errors show the message's lines once");
  });

  it("a reason another credential set is redacted and cut to one line like a message (only azmi's own reasons are taken as they are)", async () => {
    const secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    const foreign: TokenCredential = {
      getToken: () => Promise.reject(Object.assign(new CredentialUnavailableError("Foreign is unavailable"), { reason: `token ${secret} refused\nsecond line` })),
    };
    const chain = new ChainedTokenCredential(foreign, new ScriptedCredential("B", "unavailable"));
    const error = await chain.getToken(SCOPE).then(() => assert.fail("no token expected"), (e: unknown) => e);
    assert.ok(error instanceof AggregateAuthenticationError);
    const reasons = chain.lastReport!.links.map((l) => l.reason);
    assert.ok(!reasons[0]!.includes(secret) && !reasons[0]!.includes("second line"), reasons[0]);
    assert.equal(reasons[1], "B is not here");
    assert.ok(!error.message.includes(secret));
  });

  it("remembers the winner: later walks skip earlier links; walks again when the winner becomes unavailable", async () => {
    const a = new ScriptedCredential("A", "unavailable");
    const b = new ScriptedCredential("B", "token");
    const c = new ScriptedCredential("C", "token");
    const chain = new ChainedTokenCredential(a, b, c);
    await chain.getToken(SCOPE);
    assert.deepEqual([a.calls, b.calls, c.calls], [1, 1, 0]);
    assert.equal(chain.rememberedWinner, "B");
    assert.equal(chain.lastReport!.links[2]!.reason, "not tried: B answered first");

    await chain.getToken(SCOPE, { forceRefresh: true } as GetTokenOptions);
    assert.deepEqual([a.calls, b.calls, c.calls], [1, 2, 0], "A not asked again");
    assert.equal(chain.lastReport!.fromMemo, true);
    assert.deepEqual(
      chain.lastReport!.links.map((l) => [l.outcome, l.reason]),
      [
        ["skipped", "not tried: remembered winner B answered"],
        ["selected", "scripted B"],
        ["skipped", "not tried: remembered winner B answered"],
      ],
    );

    b.behaviour = "unavailable";
    const token = await chain.getToken(SCOPE, { forceRefresh: true } as GetTokenOptions);
    assert.match(token.token, /^token-of-C-/);
    assert.deepEqual([a.calls, b.calls, c.calls], [2, 3, 1], "walked again from A, B tried once");
    assert.equal(chain.rememberedWinner, "C");
  });

  it("a remembered winner unavailable only for now (a 5xx, a timeout) fails the call and stays the winner: a later link (a developer's login) is never silently used instead", async () => {
    const mi = new ScriptedCredential("A", "token");
    const cli = new ScriptedCredential("B", "token");
    const chain = new ChainedTokenCredential(mi, cli);
    await chain.getToken(SCOPE);
    assert.equal(chain.rememberedWinner, "A");
    mi.behaviour = "for-now";
    await assert.rejects(chain.getToken("https://storage.azure.com/.default"), { name: "CredentialUnavailableError", message: /A answered 503/ });
    assert.equal(cli.calls, 0, "B never asked");
    assert.equal(chain.rememberedWinner, "A");
    assert.deepEqual(chain.lastReport!.links.map((l) => l.reason), ["A answered 503", "not tried: remembered winner A failed for now (it stays the winner)"]);
    mi.behaviour = "token";
    assert.match((await chain.getToken("https://management.azure.com/.default")).token, /^token-of-A-/);
  });

  it("a link before the answer that was unavailable only for now: the answer serves this call but is not remembered, so the next call asks that link again", async () => {
    const mi = new ScriptedCredential("A", "for-now");
    const cli = new ScriptedCredential("B", "token");
    const chain = new ChainedTokenCredential(mi, cli);
    assert.match((await chain.getToken(SCOPE)).token, /^token-of-B-/);
    assert.equal(chain.rememberedWinner, undefined);
    mi.behaviour = "token";
    assert.match((await chain.getToken("https://storage.azure.com/.default")).token, /^token-of-A-/, "A recovered and answers");
    assert.equal(chain.rememberedWinner, "A");
    // A lasting absence (not configured) before the answer does pin it, as before.
    const gone = new ChainedTokenCredential(new ScriptedCredential("C", "unavailable"), new ScriptedCredential("D", "token"));
    await gone.getToken(SCOPE);
    assert.equal(gone.rememberedWinner, "D");
  });

  it("a remembered winner that now fails (AuthenticationError) stops the chain: no other link is asked (checklist 59)", async () => {
    const a = new ScriptedCredential("A", "unavailable");
    const b = new ScriptedCredential("B", "token");
    const c = new ScriptedCredential("C", "token");
    const chain = new ChainedTokenCredential(a, b, c);
    await chain.getToken(SCOPE);
    assert.equal(chain.rememberedWinner, "B");
    b.behaviour = "fail";
    await assert.rejects(chain.getToken(SCOPE, { forceRefresh: true } as GetTokenOptions), { name: "AuthenticationError", message: "B said no" });
    assert.deepEqual([a.calls, b.calls, c.calls], [1, 2, 0], "neither A nor C asked");
    assert.deepEqual(
      chain.lastReport!.links.map((l) => [l.link, l.outcome, l.reason]),
      [
        ["A", "skipped", "not tried: chain stopped at B"],
        ["B", "failed", "B said no"],
        ["C", "skipped", "not tried: chain stopped at B"],
      ],
    );
  });

  it("two links of one kind get distinct names (#2, #3), so the winner says which answered", async () => {
    const first = new ScriptedCredential("Same", "unavailable");
    const second = new ScriptedCredential("Same", "token");
    const third = new ScriptedCredential("Same", "token");
    const chain = new ChainedTokenCredential(first, second, third);
    const { report } = await chain.getTokenWithReport(SCOPE);
    assert.deepEqual(report.links.map((l) => l.link), ["Same", "Same#2", "Same#3"]);
    assert.deepEqual(report.links.map((l) => l.credential), ["Same", "Same", "Same"]);
    assert.equal(report.winner, "Same#2");
    assert.equal(chain.rememberedWinner, "Same#2");
    assert.equal(report.links[2]!.reason, "not tried: Same#2 answered first");
  });

  it("caches tokens in front of the chain: a hit asks no link, and its report says fromCache", async () => {
    const b = new ScriptedCredential("B", "token");
    const chain = new ChainedTokenCredential(b);
    const first = await chain.getToken(SCOPE);
    const second = await chain.getToken([SCOPE]);
    assert.equal(second.token, first.token);
    assert.equal(b.calls, 1);
    assert.equal(chain.lastReport!.fromCache, true);
    assert.equal(chain.lastReport!.winner, "B");
    // tenant and claims are part of the decision
    await chain.getToken(SCOPE, { tenantId: "other" });
    assert.equal(b.calls, 2);
    await chain.getToken(SCOPE, { claims: "{}" });
    assert.equal(b.calls, 3);
    // forceRefresh walks, and its token becomes the cached one
    const forced = await chain.getToken(SCOPE, { forceRefresh: true } as GetTokenOptions);
    assert.equal(b.calls, 4);
    assert.equal((await chain.getToken(SCOPE)).token, forced.token);
    assert.equal(b.calls, 4);
  });

  it("concurrent callers share one walk", async () => {
    const b = new ScriptedCredential("B", "token");
    const chain = new ChainedTokenCredential(b);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => chain.getToken(SCOPE)));
    assert.equal(b.calls, 1);
    assert.equal(new Set(tokens.map((t) => t.token)).size, 1);
  });

  it("getTokenWithReport never throws for chain outcomes", async () => {
    const chain = new ChainedTokenCredential(new ScriptedCredential("A", "unavailable"));
    const { token, report, error } = await chain.getTokenWithReport(SCOPE);
    assert.equal(token, undefined);
    assert.equal((error as Error).name, "AggregateAuthenticationError");
    assert.equal(report.links[0]!.outcome, "unavailable");
    assert.ok(report.transport === "native" || report.transport === "node");
    const ok = await new ChainedTokenCredential(new ScriptedCredential("B", "token")).getTokenWithReport(SCOPE);
    assert.match(ok.token!.token, /^token-of-B/);
    assert.equal(ok.report.winner, "B");
  });

  it("a walk that sent no plain HTTP names the transport without loading the addon; a report shown to a person names it for sure (fresh processes)", function () {
    if (process.platform !== "linux") this.skip(); // /proc/self/maps
    const chain = require.resolve("../../src/credentials/chainedTokenCredential");
    const msi = require.resolve("../../src/msi");
    const run = (env: NodeJS.ProcessEnv) => {
      const script = `const { ChainedTokenCredential } = require(${JSON.stringify(chain)});
        const { withTransportKnown } = require(${JSON.stringify(msi)});
        const token = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3600e3 }) };
        new ChainedTokenCredential(token).getTokenWithReport("https://vault.azure.net/.default").then(({ report }) => {
          const loaded = () => require("node:fs").readFileSync("/proc/self/maps", "utf8").includes("azmi.node");
          const out = { transport: report.transport, addonLoaded: loaded() };
          out.shown = withTransportKnown(report).transport;
          console.log(JSON.stringify(out));
        });`;
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim()) as { transport: string; addonLoaded: boolean; shown: string };
    };
    const env: NodeJS.ProcessEnv = { AZMI_TRANSPORT: undefined, AZMI_NATIVE_PATH: undefined };
    assert.deepEqual(run(env), { transport: "native", addonLoaded: false, shown: "native" });
    assert.deepEqual(run({ ...env, AZMI_TRANSPORT: "node" }), { transport: "node", addonLoaded: false, shown: "node" });
    // An addon that cannot load: the report names what would be tried; shown to a person, what answers.
    const broken = path.join(os.tmpdir(), `azmi-broken-${process.pid}.node`);
    fs.writeFileSync(broken, "not an ELF file");
    try {
      assert.deepEqual(run({ ...env, AZMI_NATIVE_PATH: broken }), { transport: "native", addonLoaded: false, shown: "node" });
    } finally {
      fs.rmSync(broken, { force: true });
    }
  });

  it("validates its arguments", async () => {
    assert.throws(() => new ChainedTokenCredential({} as TokenCredential), {
      name: "TypeError",
      message: "ChainedTokenCredential: source 0 is not a TokenCredential (it has no getToken method).",
    });
    const chain = new ChainedTokenCredential(new ScriptedCredential("B", "token"));
    await assert.rejects(chain.getToken([]), { name: "TypeError" });
    await assert.rejects(chain.getToken(""), { name: "TypeError" });
    await assert.rejects(chain.getTokenWithReport([]), { name: "TypeError" });
  });

  it("is accepted where @azure/identity's ChainedTokenCredential expects a TokenCredential, and vice versa", async () => {
    const { ChainedTokenCredential: Theirs } = await import("@azure/identity");
    const ours = new ChainedTokenCredential(new ScriptedCredential("A", "unavailable"));
    const theirs = new Theirs(ours, new ScriptedCredential("B", "token") as unknown as TokenCredential);
    // our AggregateAuthenticationError is not "unavailable", so their chain stops like with their own DAC
    await assert.rejects(theirs.getToken(SCOPE), { name: "AggregateAuthenticationError" });
    const unavailableFirst = new Theirs(new ScriptedCredential("A", "unavailable"), new ScriptedCredential("B", "token") as unknown as TokenCredential);
    assert.match((await unavailableFirst.getToken(SCOPE))!.token, /^token-of-B/);
  });
});

describe("test safety net: loopback guard", () => {
  it("recognises every connect form and refuses non-loopback hosts", async () => {
    const { connectTarget, isLoopbackHost } = await import("./support.js");
    assert.equal(connectTarget([[{ host: "login.microsoftonline.com", port: 443 }, () => undefined]]), "login.microsoftonline.com");
    assert.equal(connectTarget([{ host: "169.254.169.254", port: 80 }]), "169.254.169.254");
    assert.equal(connectTarget([80, "169.254.169.254"]), "169.254.169.254");
    assert.equal(connectTarget([{ path: "/tmp/sock" }]), undefined);
    assert.equal(connectTarget([80]), "localhost");
    assert.ok(!isLoopbackHost("169.254.169.254"));
    assert.ok(!isLoopbackHost("login.microsoftonline.com"));
    assert.ok(isLoopbackHost("127.0.0.1") && isLoopbackHost("::1") && isLoopbackHost("localhost"));
  });
});
