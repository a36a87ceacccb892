/**
 * DefaultAzureCredential with IMDS at its real address, 169.254.169.254 —
 * only ever inside network namespaces this test creates (test/netns
 * harness): a fake IMDS on the namespace's `lo`, and a black hole where
 * connects hang. No identity variables, no developer tools on PATH.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Netns, requestLines, skipWithoutNetns } from "../netns/harness";
import { tempDir } from "./support";

const CHILD = path.join(__dirname, "netnsChild.js");
const IMDS_MAIN = path.join(__dirname, "..", "fakes", "imdsMain.js");

interface Result {
  ms: number;
  ok: boolean;
  error?: { name: string; code?: string };
  links: Array<{ link: string; outcome: string; reason: string }>;
  winner?: string;
  fromMemo: boolean;
}

describe("DefaultAzureCredential at the real IMDS address (inside a network namespace)", function () {
  this.timeout(60_000);
  let home: string;
  before(function () {
    skipWithoutNetns(this);
  });
  beforeEach(() => {
    home = tempDir("azmi-ns-home-");
    fs.mkdirSync(path.join(home, "bin"));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  // `ip` must be on PATH for the harness; nothing else is (no az, pwsh, azd).
  const env = (): NodeJS.ProcessEnv => {
    const bin = path.join(home, "bin");
    const ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].find((p) => fs.existsSync(p));
    if (ip && !fs.existsSync(path.join(bin, "ip"))) fs.symlinkSync(ip, path.join(bin, "ip"));
    return { PATH: bin, HOME: home, AZMI_HOME: path.join(home, "azmi"), AZMI_ARC_HIMDS_PATH: "/nonexistent/azmi-test/himds" };
  };

  async function run(ns: Netns, args: object): Promise<Result[]> {
    const r = await ns.runNode([CHILD, JSON.stringify(args)], { env: env(), timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout.trim().split("\n").pop()!) as { results: Result[] }).results;
  }

  it("fake IMDS at 169.254.169.254: probe, token, winner remembered", async () => {
    const ns = await Netns.create({ imdsOnLoopback: true });
    try {
      const imds = ns.spawnNode([IMDS_MAIN, "{}"], { env: env() });
      await imds.waitForOutput(/listening http:\/\/169\.254\.169\.254:80/);
      const [first, second] = await run(ns, { calls: 2 });
      assert.ok(first!.ok, JSON.stringify(first));
      assert.equal(first!.winner, "managed-identity");
      assert.equal(first!.links[2]!.reason, "IMDS at 169.254.169.254:80");
      assert.ok(second!.ok);
      const requests = await requestLines(imds, (l) => l.some((q) => q.metadata === null) && l.some((q) => q.metadata === "true"));
      assert.ok(requests.some((q) => q.metadata === null), "probe without Metadata");
      assert.equal(requests.filter((q) => q.metadata === "true").length, 1, "second call from the cache");
    } finally {
      await ns.destroy();
    }
  });

  it("black-holed IMDS: the first walk ends near probeBudgetMs, later walks and a second process answer from the memo", async () => {
    const ns = await Netns.create({ blackHole: true });
    try {
      const budget = 300;
      const results = await run(ns, { calls: 3, options: { probeBudgetMs: budget } });
      const [first, ...later] = results;
      assert.equal(first!.ok, false);
      assert.equal(first!.error!.code, "ERR_ALL_CREDENTIALS_UNAVAILABLE");
      assert.ok(first!.ms >= budget * 0.8, `first walk ${first!.ms} ms should wait for the probe`);
      assert.ok(first!.ms < budget * 3 + 1000, `first walk ${first!.ms} ms, budget ${budget} ms`);
      assert.deepEqual(first!.links.map((l) => l.outcome), ["unavailable", "unavailable", "unavailable", "unavailable", "unavailable", "unavailable"]);
      assert.match(first!.links[2]!.reason, /169\.254\.169\.254/);
      // Later walks and a second process use the remembered probe result (no new probe): the report says so.
      for (const r of later) {
        assert.match(r.links[2]!.reason, /Remembered from a probe/);
        assert.ok(r.ms < first!.ms, `later walk ${r.ms} ms vs first ${first!.ms} ms`);
      }
      const [again] = await run(ns, { calls: 1, options: { probeBudgetMs: budget } });
      assert.equal(again!.error!.code, "ERR_ALL_CREDENTIALS_UNAVAILABLE");
      assert.match(again!.links[2]!.reason, /Remembered from a probe/);
    } finally {
      await ns.destroy();
    }
  });
});
