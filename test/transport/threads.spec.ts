/**
 * The addon in worker threads: usable from several at once, and a worker
 * terminated with native jobs in flight must not take the process down
 * (regression: OnOK ran during environment teardown and aborted in
 * napi_throw; fixed with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS).
 * Runs in a child process so a crash fails the test instead of mocha.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { nativeTransport } from "../../src/transport/http";
import { REPO_ROOT } from "../netns/harness";

const NATIVE = path.join(REPO_ROOT, "dist/src/transport/http.js");

const SCRIPT = `
const { Worker } = require("worker_threads");
const net = require("net");
const srv = net.createServer(() => {}).listen(0, "127.0.0.1", async () => {
  const port = srv.address().port;
  const inWorker = (terminate) => \`
    const t = require(\${JSON.stringify(${JSON.stringify(NATIVE)})}).nativeTransport();
    const { parentPort } = require("worker_threads");
    const jobs = [];
    for (let j = 0; j < 6; j++) jobs.push(t.request({ ip: "127.0.0.1", port: \${port}, method: "GET", path: "/", timeoutMs: 300 }).catch((e) => e.code));
    // Long probe deadline: 18 requests of 300 ms share 4 pool threads first.
    for (let j = 0; j < 2; j++) jobs.push(t.probe("127.0.0.1", 1, 10000).then((r) => r.outcome));
    if (\${terminate}) parentPort.postMessage("go"); else Promise.all(jobs).then((r) => parentPort.postMessage(r));\`;
  const results = await Promise.all([0, 1, 2].map(() => new Promise((resolve, reject) => {
    const w = new Worker(inWorker(false), { eval: true });
    w.once("message", (m) => { resolve(m); w.terminate(); });
    w.once("error", reject);
  })));
  console.log(JSON.stringify(results[0]));
  for (let i = 0; i < 10; i++) {
    const w = new Worker(inWorker(true), { eval: true });
    await new Promise((r) => w.once("message", r));
    await w.terminate();
  }
  console.log("terminated");
  setTimeout(() => { srv.close(); process.exit(0); }, 400);
});`;

/**
 * Workers terminated at random points while requests settle in a loop:
 * some are terminated inside the addon's own calls, when the environment
 * can no longer make a promise (native/js_facts.h NewPromise). The addon
 * once handed V8 an unset promise then, and the process crashed in about one
 * run of this size in six (session 18's review).
 */
const CHURN = `
const { Worker } = require("worker_threads");
const net = require("net");
const srv = net.createServer((s) => {
  s.on("error", () => {});
  s.on("data", () => setTimeout(() => s.end("HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"), Math.random() * 3));
}).listen(0, "127.0.0.1", async () => {
  const port = srv.address().port;
  const code = \`
    const t = require(\${JSON.stringify(${JSON.stringify(NATIVE)})}).nativeTransport();
    const req = { ip: "127.0.0.1", port: \${port}, method: "GET", path: "/", timeoutMs: 2000 };
    const again = () => t.request(req).then(again, again);
    for (let i = 0; i < 8; i++) again();
    require("worker_threads").parentPort.postMessage("go");\`;
  let terminated = 0;
  for (let i = 0; i < 80; i++) {
    const w = new Worker(code, { eval: true });
    await new Promise((r) => w.once("message", r));
    await new Promise((r) => setTimeout(r, Math.random() * 15));
    await w.terminate();
    terminated++;
  }
  console.log("terminated " + terminated);
  srv.close();
  process.exit(0);
});`;

describe("transport: native addon in worker threads", function () {
  this.timeout(60000);

  // The loop driver registers an async env cleanup hook per request in
  // flight: a terminated worker closes its sockets and uv handles, and the
  // worker's loop is closed only after they are gone.
  for (const driver of ["loop", "pool"]) {
    it(`[${driver} driver] works in several workers and survives workers terminated mid-request`, function () {
      if (!nativeTransport()) this.skip();
      const env = { ...process.env, AZMI_NATIVE_DRIVER: driver };
      const r = spawnSync(process.execPath, ["-e", SCRIPT], { encoding: "utf8", timeout: 50000, env });
      assert.equal(r.status, 0, `exit ${String(r.status ?? r.signal)}: ${r.stderr.slice(-1500)}`);
      const lines = r.stdout.trim().split("\n");
      assert.deepEqual(JSON.parse(lines[0]!), [...Array(6).fill("ETIMEDOUT"), "refused", "refused"]);
      assert.equal(lines[1], "terminated");
    });

    it(`[${driver} driver] survives 80 workers terminated while their requests settle`, function () {
      if (!nativeTransport()) this.skip();
      const env = { ...process.env, AZMI_NATIVE_DRIVER: driver };
      const r = spawnSync(process.execPath, ["-e", CHURN], { encoding: "utf8", timeout: 50000, env });
      assert.equal(r.status, 0, `exit ${String(r.status ?? r.signal)}: ${r.stderr.slice(-1500)}`);
      assert.equal(r.stdout.trim(), "terminated 80");
    });
  }
});
