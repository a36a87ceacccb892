/**
 * IMDS at its real address, 169.254.169.254 — reached only inside network
 * namespaces this test creates (test/netns harness): a fake IMDS on the
 * namespace's `lo`, a namespace with no route (unreachable at once), and one
 * with a black hole (connects hang until the probe budget).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Netns, requestLines, skipWithoutNetns } from "../netns/harness";
import { cleanupHomes, tempHome } from "./helpers";

const CLIENT = path.join(__dirname, "childClient.js");
const IMDS_MAIN = path.join(__dirname, "..", "fakes", "imdsMain.js");

interface ClientOutput {
  results: Array<{ ok: boolean; ms: number; code?: string; name?: string; message?: string; token?: string; cause?: Record<string, unknown> & { message: string; timeoutMs: number } }>;
  describe: string;
  addonLoaded: boolean;
}

/** Identity variables removed so the real IMDS address (inside the namespace) is used. */
function nsEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AZMI_HOME: home,
    AZMI_ARC_HIMDS_PATH: "/nonexistent/azmi-test/himds",
    AZMI_TEST_IN_NETNS: "1",
  };
  return env;
}

async function runClient(ns: Netns, home: string, args: object, extraEnv: NodeJS.ProcessEnv = {}): Promise<ClientOutput> {
  const r = await ns.runNode([CLIENT, JSON.stringify(args)], { env: { ...nsEnv(home), ...extraEnv }, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as ClientOutput;
}

describe("managed-identity/netns: IMDS at 169.254.169.254 inside a namespace", function () {
  this.timeout(60_000);
  before(function () {
    skipWithoutNetns(this);
  });
  after(cleanupHomes);

  it("fake IMDS on the namespace's lo: probe, then token; describe() names the real address", async () => {
    const ns = await Netns.create({ imdsOnLoopback: true });
    try {
      const imds = ns.spawnNode([IMDS_MAIN, "{}"], { env: nsEnv(tempHome()) });
      await imds.waitForOutput(/listening http:\/\/169\.254\.169\.254:80/);
      const out = await runClient(ns, tempHome(), { probeImds: true, calls: 2 });
      assert.equal(out.describe, "IMDS at 169.254.169.254:80");
      assert.ok(out.results[0]!.ok, JSON.stringify(out.results[0]));
      assert.equal(out.results[1]!.token, out.results[0]!.token, "second call from the cache");
      const requests = await requestLines(imds, (l) => l.length >= 2);
      assert.deepEqual(requests, [
        { method: "GET", target: "/metadata/identity/oauth2/token", metadata: null, accept: "application/json" },
        { method: "GET", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net", metadata: "true", accept: null },
      ]);
    } finally {
      await ns.destroy();
    }
  });

  it("differential: @azure/identity's DAC probe is the same request as ours (checklist 20); JS probes on every call", async () => {
    const ns = await Netns.create({ imdsOnLoopback: true });
    try {
      const imds = ns.spawnNode([IMDS_MAIN, "{}"], { env: nsEnv(tempHome()) });
      await imds.waitForOutput(/listening/);
      const js = await ns.runNode([path.join(__dirname, "jsClient.js"), JSON.stringify({ dac: true, calls: ["https://vault.azure.net/.default", "https://vault.azure.net/.default"] })], {
        env: { ...nsEnv(tempHome()), AZURE_TOKEN_CREDENTIALS: "prod" },
        timeoutMs: 30_000,
      });
      const jsOut = JSON.parse(js.stdout) as Array<{ ok: boolean; message?: string }>;
      assert.ok(jsOut[0]!.ok, js.stdout + js.stderr);
      const jsRequests = await requestLines(imds, (l) => l.filter((r) => r.metadata === null).length >= 2);
      const probe = { method: "GET", target: "/metadata/identity/oauth2/token", metadata: null, accept: "application/json" };
      assert.deepEqual(jsRequests[0], probe);
      // JS re-probes on the second call even though MSAL answers from its cache (spec §1.5); we probe once.
      assert.deepEqual(jsRequests.filter((r) => r.metadata === null).length, 2);
      const before = jsRequests.length;
      await runClient(ns, tempHome(), { probeImds: true, calls: 2 });
      // ours: one probe, then one token request (the second call is answered from the cache)
      const ours = (await requestLines(imds, (l) => l.length >= before + 2)).slice(before);
      assert.deepEqual(ours[0], probe);
      assert.equal(ours.filter((r) => r.metadata === null).length, 1);
    } finally {
      await ns.destroy();
    }
  });

  it("no route: unavailable at once (ENETUNREACH), not after the probe budget", async () => {
    const ns = await Netns.create();
    try {
      const out = await runClient(ns, tempHome(), { probeImds: true, probeBudgetMs: 5000 });
      const [r] = out.results;
      assert.equal(r!.name, "CredentialUnavailableError");
      assert.equal(r!.code, "ERR_MI_PROBE_NEGATIVE");
      assert.match(r!.message!, /^ManagedIdentityCredential: IMDS at 169\.254\.169\.254:80 is not available \(probe: connect ENETUNREACH in [\d.]+ ms\)/);
      assert.ok(r!.ms < 1000, `took ${r!.ms} ms with a 5000 ms budget`);
      // Answered from the routing tables, without loading the addon to try a connect.
      assert.equal(out.addonLoaded, false, "the probe loaded the addon");
      // Standalone (no probe): the token request itself fails at once too.
      const alone = await runClient(ns, tempHome(), {});
      const standalone = alone.results[0]!;
      assert.equal(standalone.name, "CredentialUnavailableError");
      assert.equal(standalone.code, "ENETUNREACH");
      assert.match(standalone.message!, /^ManagedIdentityCredential: IMDS at 169\.254\.169\.254:80 could not be reached \(connect ENETUNREACH after \d+ ms, timeout \d+ ms\)/);
      assert.ok(standalone.ms < 1000);
      assert.equal(alone.addonLoaded, false, "the token request loaded the addon");
      // AZMI_TRANSPORT=native insists on the addon: without it, the probe says so (not "no route").
      const insisted = await runClient(ns, tempHome(), { probeImds: true }, { AZMI_TRANSPORT: "native", AZMI_NATIVE_PATH: "/nonexistent/azmi.node" });
      assert.equal(insisted.results[0]!.code, "ERR_INVALID_ENVIRONMENT", JSON.stringify(insisted.results[0]));
      // AZMI_ROUTE_CHECK=0: the same answers, from a real connect through the addon.
      for (const probeImds of [true, false]) {
        const tried = await runClient(ns, tempHome(), { probeImds }, { AZMI_ROUTE_CHECK: "0" });
        assert.equal(tried.results[0]!.code, probeImds ? "ERR_MI_PROBE_NEGATIVE" : "ENETUNREACH", JSON.stringify(tried));
        assert.match(tried.results[0]!.message!, /ENETUNREACH/);
        assert.equal(tried.addonLoaded, true, `probeImds ${probeImds}: connected without the addon?`);
        if (!probeImds) {
          // The token request answered from the tables (before any request
          // was built) fails exactly as the connect does, but for saying where
          // it learned it; an endpoint with a port of its own too.
          const ms = (m: string) => m.replace(/after \d+ ms/, "after N ms");
          assert.equal(ms(standalone.message!), ms(tried.results[0]!.message!));
          const { message: known, ...knownFacts } = standalone.cause!;
          const { message: connected, ...connectFacts } = tried.results[0]!.cause!;
          assert.deepEqual(knownFacts, connectFacts);
          assert.deepEqual([known, connected], [
            `connect ENETUNREACH 169.254.169.254:80: network unreachable (no route in this machine's routing tables) (timeout ${standalone.cause!.timeoutMs} ms)`,
            `connect ENETUNREACH 169.254.169.254:80: network unreachable (timeout ${standalone.cause!.timeoutMs} ms)`,
          ]);
          const elsewhere = await runClient(ns, tempHome(), {}, { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://10.9.9.9:4000" });
          assert.equal(elsewhere.addonLoaded, false);
          assert.match(elsewhere.results[0]!.message!, /^ManagedIdentityCredential: IMDS at 10\.9\.9\.9:4000 could not be reached \(connect ENETUNREACH after \d+ ms, timeout \d+ ms\)/);
          assert.deepEqual([elsewhere.results[0]!.cause!.address, elsewhere.results[0]!.cause!.port], ["10.9.9.9", 4000]);
        }
      }
    } finally {
      await ns.destroy();
    }
  });

  it("the memo's network fingerprint follows the namespace's routes and addresses, read from /proc without loading node:os", async () => {
    const ns = await Netns.create();
    try {
      const script = `const m = require(${JSON.stringify(path.join(__dirname, "..", "..", "src", "cache", "probeMemo.js"))});
        const fp = m.networkFingerprint();
        console.log(JSON.stringify({ fp, osLoaded: process.moduleLoadList.includes("NativeModule os") }));`;
      const read = async (): Promise<{ fp: string; osLoaded: boolean }> => {
        const r = await ns.runNode(["-e", script], { env: nsEnv(tempHome()) });
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout.trim()) as { fp: string; osLoaded: boolean };
      };
      const ip = (...args: string[]) => assert.equal(spawnSync("ip", ["-n", ns.name, ...args]).status, 0, args.join(" "));
      const lo = await read();
      assert.equal(lo.osLoaded, false);
      assert.equal((await read()).fp, lo.fp, "the same tables give the same fingerprint");
      ip("link", "add", "i0", "type", "ifb");
      ip("link", "set", "i0", "up");
      ip("addr", "add", "10.9.0.1/24", "dev", "i0");
      const withAddress = await read();
      assert.notEqual(withAddress.fp, lo.fp, "an address added");
      ip("route", "add", "default", "dev", "i0");
      const withDefault = await read();
      assert.notEqual(withDefault.fp, withAddress.fp, "a default route added (a VPN, another network)");
      assert.equal(withDefault.osLoaded, false);
    } finally {
      await ns.destroy();
    }
  });

  it("black hole: the probe ends at its budget; the next process answers from the memo", async () => {
    const ns = await Netns.create({ blackHole: true });
    try {
      const home = tempHome();
      const first = (await runClient(ns, home, { probeImds: true, probeBudgetMs: 300, calls: 2 })).results;
      assert.equal(first[0]!.code, "ERR_MI_PROBE_NEGATIVE");
      assert.match(first[0]!.message!, /probe: connect timed out after 300 ms/);
      assert.ok(first[0]!.ms >= 250 && first[0]!.ms < 3 * 300, `first call ${first[0]!.ms} ms`);
      // Same process, second call: the in-process memo answers (no second probe; the message says so).
      assert.equal(first[1]!.code, "ERR_MI_PROBE_NEGATIVE");
      assert.match(first[1]!.message!, /Remembered from a probe at/, `same process, second call ${first[1]!.ms} ms`);
      const second = (await runClient(ns, home, { probeImds: true, probeBudgetMs: 300 })).results[0]!;
      assert.equal(second.code, "ERR_MI_PROBE_NEGATIVE");
      assert.match(second.message!, /Remembered from a probe at/);
    } finally {
      await ns.destroy();
    }
  });
});
