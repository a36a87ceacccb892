/**
 * What runs when the event-loop driver settles a request or a probe
 * (native/loop_driver.cc, Finish): the caller's continuation and what it
 * queues run then, in the caller's async context, and what they throw is an
 * uncaught exception of the process, as from any Node callback, never an
 * error left pending for the next call into the addon to throw.
 * Each case runs in a child process, which owns its uncaught exceptions.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { loadNative } from "../../src/transport/http";

const HTTP = JSON.stringify(require.resolve("../../src/transport/http"));

/** Runs `body` (an async function's body, with `t`, `port` and `closed` in scope) in a child; returns what it printed. */
function child(body: string): { out: unknown; status: number | null; stderr: string } {
  const script = `
    const net = require("node:net");
    const t = require(${HTTP}).nativeTransport("loop");
    const server = net.createServer((s) => s.on("data", () => s.end("HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")));
    server.listen(0, "127.0.0.1", async () => {
      const port = server.address().port;
      const spare = net.createServer().listen(0, "127.0.0.1", async () => {
        const closed = spare.address().port;
        await new Promise((r) => spare.close(r));
        const out = await (async () => { ${body} })();
        process.stdout.write(JSON.stringify(out), () => process.exit(0));
      });
    });`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
  let out: unknown;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    out = r.stdout;
  }
  return { out, status: r.status, stderr: r.stderr };
}

describe("transport: what settling a native request runs", function () {
  this.timeout(30000);
  before(function () {
    if (!loadNative()) this.skip(); // no addon here: the node:net fallback answers, and has no such code
  });

  it("a throw from a continuation's nextTick is an uncaught exception, and the next request is unaffected", function () {
    const r = child(`
      const seen = [];
      process.on("uncaughtException", (e) => seen.push("uncaught: " + e.message));
      const req = { ip: "127.0.0.1", port, method: "GET", path: "/", timeoutMs: 2000 };
      await t.request(req).then(() => process.nextTick(() => { throw new Error("from a tick"); }));
      await new Promise((r) => setTimeout(r, 20));
      await t.probe("127.0.0.1", closed, 2000).then(() => process.nextTick(() => { throw new Error("after a probe"); }));
      await new Promise((r) => setTimeout(r, 20));
      const next = await t.request(req).then((res) => res.status, (e) => "threw: " + e.message);
      const probe = await t.probe("127.0.0.1", port, 2000).then((p) => p.outcome, (e) => "threw: " + e.message);
      return { seen, next, probe };`);
    assert.deepEqual(r.out, { seen: ["uncaught: from a tick", "uncaught: after a probe"], next: 200, probe: "connected" }, r.stderr);
    assert.equal(r.status, 0, r.stderr);
  });

  it("with no handler, that throw ends the process as an uncaught exception does", function () {
    const r = child(`
      await t.request({ ip: "127.0.0.1", port, method: "GET", path: "/", timeoutMs: 2000 })
        .then(() => process.nextTick(() => { throw new Error("nobody catches this"); }));
      await new Promise((r) => setTimeout(r, 1000));
      return "survived";`);
    assert.equal(r.status, 1, `exit status; stdout ${JSON.stringify(r.out)}`);
    assert.match(r.stderr, /Error: nobody catches this/);
    assert.equal(r.out, "");
  });

  it("the continuation runs in the caller's async context (AsyncLocalStorage), for requests and probes", function () {
    const r = child(`
      const { AsyncLocalStorage, createHook } = require("node:async_hooks");
      const als = new AsyncLocalStorage();
      // Each settlement is entered as its own async resource, named for the
      // operation. (Whether it drained the microtask queue cannot be told
      // by timing: V8's foreground tasks run in callback scopes too, and
      // drain it soon after anyway. Being entered here is what shows the
      // settlement ran in a callback scope of its own.)
      const ours = new Map(), entered = [];
      createHook({
        init(id, type) { if (type.startsWith("azmi:")) ours.set(id, type); },
        before(id) { if (ours.has(id)) entered.push(ours.get(id)); },
      }).enable();
      const req = { ip: "127.0.0.1", port, method: "GET", path: "/", timeoutMs: 2000 };
      const seen = await Promise.all([1, 2, 3].map((id) => als.run({ id }, async () => {
        await t.request(req);
        const afterRequest = als.getStore().id;
        await t.probe("127.0.0.1", closed, 2000);
        return [afterRequest, als.getStore().id];
      })));
      return { seen, entered: entered.sort() };`);
    assert.deepEqual(r.out, {
      seen: [[1, 1], [2, 2], [3, 3]],
      // (A loopback probe ends inside the call, before any handle or resource is made.)
      entered: ["azmi:request", "azmi:request", "azmi:request"],
    }, r.stderr);
  });
});
