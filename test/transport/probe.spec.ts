/**
 * probe(): a bounded TCP connect that reports what happened, on both
 * transports, without ever blocking the event loop.
 */
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import { closedPort } from "./loopback";
import { allTransports, label } from "./transports";

describe("transport: probe", function () {
  const transports = allTransports();
  let server: net.Server;
  let port: number;

  before(async function () {
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async function () {
    await new Promise<void>((r) => server.close(() => r()));
  });

  for (const t of transports) {
    describe(`[${label(t)}]`, function () {
      it("connected: a listening port", async function () {
        const r = await t.probe("127.0.0.1", port, 1000);
        assert.equal(r.outcome, "connected");
        assert.equal(r.errno, undefined);
        assert.ok(r.elapsedMs >= 0 && r.elapsedMs < 1000);
      });

      it("refused: a closed port, at once, with the errno", async function () {
        const closed = await closedPort();
        const r = await t.probe("127.0.0.1", closed, 5000);
        assert.deepEqual({ outcome: r.outcome, errno: r.errno }, { outcome: "refused", errno: "ECONNREFUSED" });
        assert.ok(r.elapsedMs < 1000, `took ${r.elapsedMs} ms`);
      });

      it("IPv6 loopback, refused", async function () {
        const closed = await closedPort("::1").catch(() => closedPort());
        const r = await t.probe("::1", closed, 1000);
        // Without IPv6 the kernel answers at once with EADDRNOTAVAIL/ENETUNREACH.
        assert.ok(r.outcome === "refused" || r.outcome === "unreachable", r.outcome);
        assert.ok(r.elapsedMs < 1000);
      });

      // A loopback connect completes inside connect(); one that must wait needs
      // a listener whose accept queue is full: the kernel drops the SYN, and
      // the client sends it again after 1 s.
      it("waits for the handshake: times out while the accept queue stays full, connects on the SYN's retry once it drains", async function () {
        this.timeout(20_000);
        const stalled = await stalledListener(1500);
        const fillers: net.Socket[] = [];
        try {
          for (let i = 0; i < 3; i++) fillers.push(net.connect(stalled.port, "127.0.0.1").on("error", () => {}));
          await new Promise((r) => setTimeout(r, 100));
          const [late, waiting] = await Promise.all([t.probe("127.0.0.1", stalled.port, 300), t.probe("127.0.0.1", stalled.port, 8000)]);
          assert.equal(late.outcome, "timeout", JSON.stringify(late));
          assert.ok(late.elapsedMs >= 295 && late.elapsedMs < 1000, JSON.stringify(late));
          assert.equal(waiting.outcome, "connected", JSON.stringify(waiting));
          assert.ok(waiting.elapsedMs >= 900, `connected after ${waiting.elapsedMs} ms: the SYN was not dropped`);
        } finally {
          for (const f of fillers) f.destroy();
          stalled.child.kill("SIGKILL");
        }
      });

      it("many probes in parallel all settle (more than the 4 pool threads)", async function () {
        const closed = await closedPort();
        const results = await Promise.all(Array.from({ length: 32 }, (_, i) => t.probe("127.0.0.1", i % 2 ? port : closed, 2000)));
        assert.deepEqual(
          results.map((r) => r.outcome),
          Array.from({ length: 32 }, (_, i) => (i % 2 ? "connected" : "refused")),
        );
      });
    });
  }
});

/**
 * A listener (backlog 1) in a child process whose event loop is blocked for
 * `ms` after it starts listening, so nothing accepts: connects past the
 * first two have their SYN dropped until it wakes and accepts them all.
 */
async function stalledListener(ms: number): Promise<{ port: number; child: ChildProcess }> {
  const script = `const s = require("node:net").createServer((c) => c.on("error", () => {}));
s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  process.stdout.write(s.address().port + "\\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});
});`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`stalled listener exited ${String(code)}`)));
  });
  return { port, child };
}
