/**
 * The real IMDS address, only ever inside namespaces this test creates:
 * unreachable (no route: fails at once), black-holed (packets dropped: fails
 * at the deadline) and a fake IMDS listening at 169.254.169.254:80. The
 * client runs inside the namespace (test/netns/client.ts).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { Netns, REPO_ROOT, skipWithoutNetns } from "./harness";

const CLIENT = path.join(REPO_ROOT, "dist/test/netns/client.js");
const TINY = path.join(REPO_ROOT, "dist/test/netns/tinyServer.js");
const IMDS = "169.254.169.254";

type Out = Record<string, unknown> & { ok: boolean };

async function client(ns: Netns, cmd: Record<string, unknown>, transport?: string): Promise<Out> {
  const env = { ...process.env };
  delete env.AZMI_TRANSPORT;
  delete env.AZMI_NATIVE_DRIVER;
  if (transport === "native-pool") {
    env.AZMI_TRANSPORT = "native";
    env.AZMI_NATIVE_DRIVER = "pool";
  } else if (transport) {
    env.AZMI_TRANSPORT = transport;
  }
  const r = await ns.runNode([CLIENT, JSON.stringify(cmd)], { env, timeoutMs: 20000 });
  assert.equal(r.code, 0, `client failed (${String(r.code ?? r.signal)}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Out;
}

describe("netns: 169.254.169.254 inside a private network namespace", function () {
  this.timeout(60000);
  let kinds: string[] = ["node"];

  before(async function () {
    skipWithoutNetns(this);
    const probe = await Netns.create();
    try {
      const k = await client(probe, { op: "transportKind" });
      if (k.kind === "native") kinds = ["native", "native-pool", "node"];
      else console.log("    (native transport skipped inside the namespace: addon not built)");
    } finally {
      await probe.destroy();
    }
  });

  describe("unreachable: only lo, no route", function () {
    let ns: Netns;
    before(async function () {
      ns = await Netns.create();
    });
    after(async function () {
      await ns?.destroy();
    });

    for (const kind of ["native", "native-pool", "node"]) {
      it(`[${kind}] probe, request and send fail at once with ENETUNREACH`, async function () {
        if (!kinds.includes(kind)) this.skip();
        const p = await client(ns, { op: "probe", transport: kind, ip: IMDS, port: 80, timeoutMs: 5000 });
        assert.equal(p.outcome, "unreachable", JSON.stringify(p));
        assert.equal(p.errno, "ENETUNREACH");
        assert.ok((p.elapsedMs as number) < 1000, `took ${String(p.elapsedMs)} ms`);

        const r = await client(ns, { op: "request", transport: kind, ip: IMDS, port: 80, path: "/metadata/identity/oauth2/token", timeoutMs: 5000 });
        assert.deepEqual(
          [r.ok, r.name, r.code, r.phase, r.message],
          [false, "TransportError", "ENETUNREACH", "connect", `connect ENETUNREACH ${IMDS}:80: network unreachable (timeout 5000 ms)`],
        );
        assert.ok((r.wallMs as number) < 1000);

        const s = await client(ns, { op: "send", url: `http://${IMDS}/metadata/identity/oauth2/token`, headers: { Accept: "application/json" }, timeoutMs: 5000 }, kind);
        assert.deepEqual([s.code, s.phase], ["ENETUNREACH", "connect"]);
        assert.ok((s.wallMs as number) < 1000);
      });
    }
  });

  describe("black hole: 169.254.0.0/16 routed into an ifb device that drops everything", function () {
    let ns: Netns;
    before(async function () {
      ns = await Netns.create({ blackHole: true });
    });
    after(async function () {
      await ns?.destroy();
    });

    for (const kind of ["native", "native-pool", "node"]) {
      it(`[${kind}] probe, request and send fail at the deadline with ETIMEDOUT`, async function () {
        if (!kinds.includes(kind)) this.skip();
        // Bounds per the test rules: not early, and before 3 × the deadline.
        const p = await client(ns, { op: "probe", transport: kind, ip: IMDS, port: 80, timeoutMs: 500 });
        assert.equal(p.outcome, "timeout", JSON.stringify(p));
        assert.ok((p.elapsedMs as number) >= 495 && (p.elapsedMs as number) < 1500, JSON.stringify(p));

        const r = await client(ns, { op: "request", transport: kind, ip: IMDS, port: 80, timeoutMs: 500 });
        assert.deepEqual(
          [r.ok, r.code, r.phase, r.message, r.address, r.port, r.timeoutMs],
          [false, "ETIMEDOUT", "connect", `connect ETIMEDOUT ${IMDS}:80 after 500 ms`, IMDS, 80, 500],
          JSON.stringify(r),
        );
        assert.ok((r.elapsedMs as number) >= 495 && (r.elapsedMs as number) < 1500, JSON.stringify(r));

        const s = await client(ns, { op: "send", url: `http://${IMDS}/metadata/identity/oauth2/token`, timeoutMs: 500 }, kind);
        assert.deepEqual([s.code, s.phase, s.message], ["ETIMEDOUT", "connect", `connect ETIMEDOUT ${IMDS}:80 after 500 ms`], JSON.stringify(s));
      });
    }
  });

  describe("black hole: loop-driven probes in flight when their worker thread ends", function () {
    let ns: Netns;
    before(async function () {
      if (!kinds.includes("native")) this.skip();
      ns = await Netns.create({ blackHole: true });
    });
    after(async function () {
      await ns?.destroy();
    });

    // A connect that never completes keeps the probe's uv handles open; the
    // worker's environment teardown must close them (async cleanup hook) and
    // never settle into a dead environment.
    it("[native] workers terminated mid-probe: the process survives, and a probe in the main thread still answers at its deadline", async function () {
      const transport = JSON.stringify(path.join(REPO_ROOT, "dist/src/transport/http.js"));
      const script = `
const { Worker } = require("node:worker_threads");
const inWorker = \`
  const t = require(\${JSON.stringify(${transport})}).nativeTransport("loop");
  for (let i = 0; i < 4; i++) t.probe("${IMDS}", 80, 20000);
  require("node:worker_threads").parentPort.postMessage("probing");\`;
(async () => {
  for (let i = 0; i < 6; i++) {
    const w = new Worker(inWorker, { eval: true });
    await new Promise((r) => w.once("message", r));
    await new Promise((r) => setTimeout(r, 50));
    await w.terminate();
  }
  const r = await require(${transport}).nativeTransport("loop").probe("${IMDS}", 80, 300);
  console.log(JSON.stringify({ ok: true, outcome: r.outcome, elapsedMs: r.elapsedMs }));
})();`;
      const r = await ns.runNode(["-e", script], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, `exit ${String(r.code ?? r.signal)}: ${r.stderr.slice(-1500)}`);
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { outcome: string; elapsedMs: number };
      assert.equal(out.outcome, "timeout");
      assert.ok(out.elapsedMs >= 295 && out.elapsedMs < 1500, JSON.stringify(out));
    });
  });

  describe("a fake IMDS listening at 169.254.169.254:80 (on lo inside the namespace)", function () {
    let ns: Netns;
    before(async function () {
      ns = await Netns.create({ imdsOnLoopback: true, blackHole: true });
      const server = ns.spawnNode([TINY, IMDS, "80"]);
      await server.waitForOutput(/listening/);
    });
    after(async function () {
      await ns?.destroy();
    });

    for (const kind of ["native", "native-pool", "node"]) {
      it(`[${kind}] send() reaches it and gets the token response`, async function () {
        if (!kinds.includes(kind)) this.skip();
        const p = await client(ns, { op: "probe", transport: kind, ip: IMDS, port: 80, timeoutMs: 1000 });
        assert.equal(p.outcome, "connected");
        const s = await client(ns, {
          op: "send",
          url: `http://${IMDS}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com`,
          headers: { Metadata: "true" },
          timeoutMs: 2000,
        }, kind);
        assert.equal(s.ok, true, JSON.stringify(s));
        assert.equal(s.status, 200);
        assert.equal((s.headers as Record<string, string>)["x-request-line"], "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com HTTP/1.1");
        assert.equal(JSON.parse(s.body as string).access_token, "fake");
      });
    }
  });

  // A child suite, so it runs after the others (mocha runs a suite's own tests first).
  describe("cleanup", function () {
    it("no namespace of this process is left", function () {
      const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
      assert.ok(!list.includes(`azmi-${process.pid}-`), list);
    });
  });
});
