/**
 * probe(): a bounded TCP connect that reports what happened, on both
 * transports, without ever blocking the event loop.
 */
import * as assert from "node:assert/strict";
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
        const closed = await closedPort();
        const r = await t.probe("::1", closed, 1000);
        // Without IPv6 the kernel answers at once with EADDRNOTAVAIL/ENETUNREACH.
        assert.ok(r.outcome === "refused" || r.outcome === "unreachable", r.outcome);
        assert.ok(r.elapsedMs < 1000);
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
