/**
 * The IMDS rate limiter on its own, with the clock given to `admit`: the
 * rolling one-second window and the concurrency cap, exactly, whatever the
 * machine's load (the end-to-end tests in imds.spec.ts drive it over HTTP,
 * where arrival times depend on the scheduler).
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { IMDS_CONCURRENT_REQUESTS, IMDS_REQUESTS_PER_SECOND, RateLimiter } from "../../src/serve/rateLimit";

/** A response that finishes when told to (the limiter only listens for "finish" and "close"). */
function response(): ServerResponse & EventEmitter {
  return new EventEmitter() as ServerResponse & EventEmitter;
}

describe("serve: IMDS rate limiter (clock injected)", () => {
  it("defaults to IMDS's documented limits: 20 per second, 5 at once", () => {
    const limiter = new RateLimiter();
    assert.equal(limiter.perSecond, IMDS_REQUESTS_PER_SECOND);
    assert.equal(limiter.concurrent, IMDS_CONCURRENT_REQUESTS);
    assert.equal(IMDS_REQUESTS_PER_SECOND, 20);
    assert.equal(IMDS_CONCURRENT_REQUESTS, 5);
  });

  it("admits perSecond requests in a rolling second, refuses the next, and admits again once the oldest is a second old", () => {
    const limiter = new RateLimiter({ perSecond: 20, concurrent: 1000 });
    const t0 = 1_000_000;
    for (let i = 0; i < 20; i++) assert.equal(limiter.admit(response(), t0 + i * 10), true, `request ${i}`);
    assert.equal(limiter.admit(response(), t0 + 500), false, "21st within the second");
    assert.equal(limiter.admit(response(), t0 + 999), false, "still within a second of the first");
    assert.equal(limiter.admit(response(), t0 + 1000), true, "the first is exactly a second old: its slot is free");
    assert.equal(limiter.admit(response(), t0 + 1005), false, "the second request (t0+10) is not a second old yet");
    assert.equal(limiter.admit(response(), t0 + 1010), true);
  });

  it("refused requests take no slot", () => {
    const limiter = new RateLimiter({ perSecond: 2, concurrent: 1000 });
    assert.equal(limiter.admit(response(), 0), true);
    assert.equal(limiter.admit(response(), 1), true);
    for (let t = 2; t < 1000; t += 100) assert.equal(limiter.admit(response(), t), false);
    assert.equal(limiter.admit(response(), 1000), true, "only the two admitted ones counted");
  });

  it("caps requests in flight, and a slot frees when a response finishes or its connection closes (once each)", () => {
    const limiter = new RateLimiter({ perSecond: 1000, concurrent: 2 });
    const a = response();
    const b = response();
    assert.equal(limiter.admit(a, 0), true);
    assert.equal(limiter.admit(b, 1), true);
    assert.equal(limiter.admit(response(), 2), false, "third at once");
    a.emit("finish");
    a.emit("close"); // finish then close: released once, not twice
    const c = response();
    assert.equal(limiter.admit(c, 3), true);
    assert.equal(limiter.admit(response(), 4), false, "b and c in flight");
    b.emit("close"); // a client that went away frees its slot too
    assert.equal(limiter.admit(response(), 5), true);
    assert.equal(limiter.admit(response(), 6), false);
  });
});
