/**
 * The deadline holds even when every libuv pool thread is busy: a native job
 * queued behind slow ones answers ETIMEDOUT at its own deadline (plus a few
 * ms), and the event loop keeps running meanwhile.
 */
import * as assert from "node:assert/strict";
import { TransportError } from "../../src/errors";
import { nativeTransport } from "../../src/transport/native";
import { rawServer } from "./loopback";

describe("transport: native deadlines with a saturated thread pool", function () {
  this.timeout(30000);
  const pool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

  it(`a request queued behind ${pool} slow ones still fails at its own deadline`, async function () {
    const t = nativeTransport();
    if (!t) this.skip();
    const silent = await rawServer(() => {});
    try {
      const req = { ip: "127.0.0.1", port: silent.port, method: "GET", path: "/", timeoutMs: 2500 };
      const blockers = Array.from({ length: pool }, () => t!.request(req).catch((e: TransportError) => e.code));
      await new Promise((r) => setTimeout(r, 50)); // let them occupy every pool thread
      const started = performance.now();
      const [probe, request] = await Promise.all([
        t!.probe("127.0.0.1", silent.port, 300),
        t!.request({ ...req, timeoutMs: 300 }).then(
          () => assert.fail("expected a timeout"),
          (e: TransportError) => e,
        ),
      ]);
      const elapsed = performance.now() - started;
      assert.equal(probe.outcome, "timeout");
      assert.equal(request.code, "ETIMEDOUT");
      assert.equal(request.phase, "connect");
      assert.equal(request.message, `connect ETIMEDOUT 127.0.0.1:${silent.port} after 300 ms`);
      assert.ok(elapsed < 900, `answered after ${elapsed} ms with the pool busy for 2500 ms`);
      assert.deepEqual(await Promise.all(blockers), Array(pool).fill("ETIMEDOUT"));
    } finally {
      await silent.close();
    }
  });
});
