/**
 * What requiring the transport loads, in a fresh process: with the addon the
 * entry point (http.js, which holds the checks, the addon loader and the
 * transport choice) and the addon only — no node:net
 * fallback, no parser, no error formatting — even after a successful request.
 * Failures and the fallback load their modules when they happen.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { nativeTransport } from "../../src/transport/http";
import { REPO_ROOT } from "../netns/harness";
import { closedPort, rawServer } from "./loopback";

const HTTP = path.join(REPO_ROOT, "dist", "src", "transport", "http.js");

/** Runs `code` after requiring http.js as `h`; returns what it printed plus the loaded azmi modules. */
function child(code: string, env: Record<string, string> = {}): Promise<{ out: string; modules: string[]; builtins: string[] }> {
  const script = `
    const h = require(${JSON.stringify(HTTP)});
    (async () => {
      let out = "";
      ${code}
      const modules = Object.keys(require.cache).filter((k) => k.includes("/dist/src/") || k.endsWith(".node"))
        .map((k) => k.split("/dist/src/")[1] ?? require("path").basename(k)).sort();
      const builtins = process.moduleLoadList.filter((m) => /^NativeModule (net|dns|tls|http|https)$/.test(m)).map((m) => m.slice(13));
      process.stdout.write(JSON.stringify({ out, modules, builtins }));
    })();`;
  return new Promise((resolve, reject) => {
    const env2: NodeJS.ProcessEnv = { ...process.env };
    delete env2.AZMI_TRANSPORT;
    Object.assign(env2, env);
    const p = spawn(process.execPath, ["-e", script], { env: env2, stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    p.stdout.on("data", (d: Buffer) => (text += d));
    p.on("error", reject);
    p.on("close", (status) => {
      try {
        assert.equal(status, 0, `child exited ${status}: ${text}`);
        resolve(JSON.parse(text) as { out: string; modules: string[]; builtins: string[] });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

describe("transport: lazy loading (fresh process)", function () {
  this.timeout(30000);

  before(function () {
    if (!nativeTransport()) this.skip();
  });

  // The addon itself is loaded with process.dlopen (not in require.cache): "native" proves it loaded.
  it("require + transportKind() loads http.js and the addon, nothing else", async function () {
    const r = await child(`out = h.transportKind();`);
    assert.equal(r.out, "native");
    assert.deepEqual(r.modules, ["transport/http.js"]);
    assert.deepEqual(r.builtins, []);
  });

  it("a successful native request loads no more modules", async function () {
    const srv = await rawServer((s) => s.end("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok"));
    try {
      const r = await child(`
        const res = await h.send({ url: "http://127.0.0.1:${srv.port}/token", headers: { Metadata: "true" }, timeoutMs: 5000 });
        out = JSON.stringify([res.status, res.headers, res.body.toString()]);`);
      assert.equal(r.out, JSON.stringify([200, { "x-a": "1, 2", "content-length": "2" }, "ok"]));
      assert.deepEqual(r.modules, ["transport/http.js"]);
      assert.deepEqual(r.builtins, []);
    } finally {
      await srv.close();
    }
  });

  it("a failure loads the error formatting then, and still reads the same", async function () {
    const port = await closedPort();
    const r = await child(`
      try { await h.send({ url: "http://127.0.0.1:${port}/", timeoutMs: 2000 }); out = "resolved"; }
      catch (e) { out = e.name + " " + e.code + " " + e.message; }`);
    assert.equal(r.out, `TransportError ECONNREFUSED connect ECONNREFUSED 127.0.0.1:${port}: connection refused (timeout 2000 ms)`);
    assert.ok(r.modules.includes("transport/facts.js") && r.modules.includes("errors.js"), r.modules.join(" "));
    assert.ok(!r.modules.includes("transport/fallback.js") && !r.modules.includes("transport/parser.js"), r.modules.join(" "));
  });

  it("AZMI_TRANSPORT=node: require + transportKind() does not load the fallback yet", async function () {
    const r = await child(`out = h.transportKind();`, { AZMI_TRANSPORT: "node" });
    assert.equal(r.out, "node");
    assert.ok(!r.modules.includes("transport/fallback.js"), r.modules.join(" "));
  });
});
