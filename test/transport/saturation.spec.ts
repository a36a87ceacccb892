/**
 * Deadlines and progress while the libuv thread pool is saturated.
 *
 * Pool driver (AZMI_NATIVE_DRIVER=pool): a job queued behind slow ones
 * answers ETIMEDOUT at its own deadline (plus a few ms, via the JS guard),
 * and the event loop keeps running meanwhile.
 *
 * Loop driver (the default for probes and requests): it never uses the pool, so a busy
 * pool cannot delay it at all, and since every socket call is non-blocking
 * the event loop keeps turning while a request waits. These tests assert
 * ordering (what settled first, that timers ran), not wall times.
 */
import * as assert from "node:assert/strict";
import type { TransportError } from "../../src/errors";
import { nativeTransport } from "../../src/transport/http";
import type { RawRequest, Transport } from "../../src/transport/types";
import { closedPort, rawServer, type RawServer } from "./loopback";

const TOKEN = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{"access_token":"x"}\n', "latin1");

describe("transport: native deadlines with a saturated thread pool", function () {
  this.timeout(30000);
  const pool = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  let silent: RawServer;
  let answering: RawServer;
  let poolT: Transport | null;
  let loopT: Transport | null;

  before(async function () {
    poolT = nativeTransport("pool");
    loopT = nativeTransport("loop");
    if (!poolT || !loopT) this.skip();
    silent = await rawServer(() => {});
    answering = await rawServer((s) => s.end(TOKEN));
  });
  after(async function () {
    await silent?.close();
    await answering?.close();
  });

  /** `pool` pool-driver requests to the silent server: every pool thread blocks in poll() for `ms`. */
  function occupyPool(ms: number): { settled: () => boolean; done: Promise<string[]> } {
    let count = 0;
    const req: RawRequest = { ip: "127.0.0.1", port: silent.port, method: "GET", path: "/", timeoutMs: ms };
    const done = Promise.all(
      Array.from({ length: pool }, () =>
        poolT!.request(req).then(
          () => "answered",
          (e: TransportError) => {
            count++;
            return e.code;
          },
        ),
      ),
    );
    return { settled: () => count > 0, done };
  }

  it(`[pool driver] a request queued behind ${pool} slow ones still fails at its own deadline`, async function () {
    const busy = occupyPool(2500);
    await new Promise((r) => setTimeout(r, 50)); // let them occupy every pool thread
    const started = performance.now();
    const [probe, request] = await Promise.all([
      poolT!.probe("127.0.0.1", silent.port, 300),
      poolT!.request({ ip: "127.0.0.1", port: silent.port, method: "GET", path: "/", timeoutMs: 300 }).then(
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
    assert.deepEqual(await busy.done, Array(pool).fill("ETIMEDOUT"));
  });

  it(`[loop driver] completes token exchanges while all ${pool} pool threads are busy`, async function () {
    const busy = occupyPool(3000);
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 5; i++) {
      const res = await loopT!.request({ ip: "127.0.0.1", port: answering.port, method: "GET", path: "/", timeoutMs: 2000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '{"access_token":"x"}\n');
    }
    // Ordering, not time: all five answered before any pool job finished.
    assert.equal(busy.settled(), false, "a pool job settled first: the loop request waited for the pool");
    assert.deepEqual(await busy.done, Array(pool).fill("ETIMEDOUT"));
  });

  it(`[loop driver] probes answer while all ${pool} pool threads are busy`, async function () {
    const busy = occupyPool(3000);
    await new Promise((r) => setTimeout(r, 50));
    const closed = await closedPort();
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) outcomes.push((await loopT!.probe("127.0.0.1", i % 2 ? silent.port : closed, 2000)).outcome);
    assert.deepEqual(outcomes, ["refused", "connected", "refused", "connected", "refused"]);
    // Ordering, not time: all five answered before any pool job finished.
    assert.equal(busy.settled(), false, "a pool job settled first: the loop probe waited for the pool");
    assert.deepEqual(await busy.done, Array(pool).fill("ETIMEDOUT"));
  });

  it("[loop driver] a never-answering peer fails at the request's own deadline while the pool is busy", async function () {
    const busy = occupyPool(3000);
    await new Promise((r) => setTimeout(r, 50));
    const err = await loopT!.request({ ip: "127.0.0.1", port: silent.port, method: "GET", path: "/", timeoutMs: 300 }).then(
      () => assert.fail("expected a timeout"),
      (e: TransportError) => e,
    );
    // Connected and wrote at once (loopback); the wait was for the headers.
    assert.equal(err.code, "ETIMEDOUT");
    assert.equal(err.phase, "headers");
    assert.equal(busy.settled(), false, "a pool job settled first");
    assert.deepEqual(await busy.done, Array(pool).fill("ETIMEDOUT"));
  });

  it("[loop driver] the event loop keeps turning (setInterval ticks) while a request waits for its deadline", async function () {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      const pending = loopT!.request({ ip: "127.0.0.1", port: silent.port, method: "GET", path: "/", timeoutMs: 400 });
      const ticksAtStart = ticks;
      const err = await pending.then(
        () => assert.fail("expected a timeout"),
        (e: TransportError) => e,
      );
      assert.equal(err.code, "ETIMEDOUT");
      assert.ok(err.elapsedMs >= 395, `returned early (${err.elapsedMs} ms)`);
      // 400 ms of waiting at a 10 ms interval: a blocked loop would give 0.
      assert.ok(ticks - ticksAtStart >= 3, `only ${ticks - ticksAtStart} interval ticks during the request`);
    } finally {
      clearInterval(timer);
    }
  });
});
