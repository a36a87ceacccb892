/**
 * Bad input is rejected at the TypeScript edge with TypeError/RangeError
 * naming the option, identically for both transports, and never reaches C++
 * (a non-numeric host in particular). The addon also defends itself when
 * called directly.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { loadNative } from "../../src/transport/http";
import type { RawRequest } from "../../src/transport/types";
import { allTransports, label } from "./transports";

const base: RawRequest = { ip: "127.0.0.1", port: 9, method: "GET", path: "/", timeoutMs: 100 };

const bad: Array<[string, Partial<Record<keyof RawRequest, unknown>>, "TypeError" | "RangeError", RegExp]> = [
  ["ip not a string", { ip: 127 }, "TypeError", /^ip must be a string/],
  ["ip a host name", { ip: "example.com" }, "RangeError", /^ip must be a numeric IPv4 or IPv6 address, got "example.com"; resolve host names with send\(\) first$/],
  ["ip localhost", { ip: "localhost" }, "RangeError", /^ip must be a numeric/],
  ["ip with a port", { ip: "127.0.0.1:80" }, "RangeError", /^ip must be a numeric/],
  ["ip with a NUL", { ip: "127.0.0.1\0" }, "RangeError", /^ip must be a numeric/],
  ["port a string", { port: "80" }, "TypeError", /^port must be a number from 1 to 65535$/],
  ["port 0", { port: 0 }, "RangeError", /^port must be an integer from 1 to 65535, got 0$/],
  ["port 65536", { port: 65536 }, "RangeError", /^port must be an integer from 1 to 65535, got 65536$/],
  ["port fractional", { port: 80.5 }, "RangeError", /^port must be an integer/],
  ["port NaN", { port: NaN }, "RangeError", /^port must be an integer/],
  ["method with a space", { method: "GET /x" }, "RangeError", /^method must be an HTTP method token/],
  ["method not a string", { method: 1 }, "TypeError", /^method must be a string/],
  ["path relative", { path: "x" }, "RangeError", /^path must start with "\/"/],
  ["path with a space", { path: "/a b" }, "RangeError", /^path must start with "\/"/],
  ["path with CRLF", { path: "/\r\nX: y" }, "RangeError", /^path must start with "\/"/],
  ["path not a string", { path: null }, "TypeError", /^path must be a string/],
  ["headers not an array", { headers: { a: "b" } }, "TypeError", /^headers must be an array of \[name, value\] pairs$/],
  ["header pair too short", { headers: [["a"]] }, "TypeError", /^headers must be an array/],
  ["header value not a string", { headers: [["a", 1]] }, "TypeError", /^headers must map header names to string values$/],
  ["header name invalid", { headers: [["a b", "c"]] }, "RangeError", /^headers: "a b" is not a valid header name$/],
  ["header value with CRLF", { headers: [["secret", "s3cr3t\r\nX-Injected: 1"]] }, "RangeError", /^headers: the value of secret contains characters not allowed/],
  ["header value non-ASCII", { headers: [["a", "é"]] }, "RangeError", /^headers: the value of a contains/],
  ["Transfer-Encoding header", { headers: [["Transfer-Encoding", "chunked"]] }, "RangeError", /^headers: Transfer-Encoding is not supported/],
  ["65 headers", { headers: Array.from({ length: 65 }, (_, i) => [`x-${i}`, "v"]) }, "RangeError", /^headers: at most 64 fields, Host included, can be sent \(got 65\)$/],
  ["64 headers and the Host added", { headers: Array.from({ length: 64 }, (_, i) => [`x-${i}`, "v"]) }, "RangeError", /^headers: at most 64 fields, Host included, can be sent \(got 65\)$/],
  ["body a number", { body: 5 }, "TypeError", /^body must be a string or a Buffer$/],
  ["timeout missing", { timeoutMs: undefined }, "TypeError", /^timeoutMs must be a number of milliseconds$/],
  ["timeout zero", { timeoutMs: 0 }, "RangeError", /^timeoutMs must be greater than 0 and at most 2147483647 ms, got 0$/],
  ["timeout negative", { timeoutMs: -1 }, "RangeError", /^timeoutMs must be greater than 0/],
  ["timeout Infinity", { timeoutMs: Infinity }, "RangeError", /^timeoutMs must be greater than 0/],
  ["timeout too large", { timeoutMs: 2 ** 31 }, "RangeError", /^timeoutMs must be greater than 0/],
  ["maxHeaderBytes zero", { maxHeaderBytes: 0 }, "RangeError", /^maxHeaderBytes must be an integer from 1 to 1073741824, got 0$/],
  ["maxBodyBytes a string", { maxBodyBytes: "1" }, "TypeError", /^maxBodyBytes must be a number of bytes$/],
  ["maxBodyBytes too large", { maxBodyBytes: 2 ** 31 }, "RangeError", /^maxBodyBytes must be an integer from 0/],
];

describe("transport: argument validation", function () {
  for (const t of allTransports()) {
    describe(`[${label(t)}]`, function () {
      for (const [name, patch, type, message] of bad) {
        it(`request: ${name} → ${type}`, async function () {
          await assert.rejects(t.request({ ...base, ...patch } as RawRequest), (e: Error) => {
            assert.equal(e.constructor.name, type);
            assert.match(e.message, message);
            assert.ok(!e.message.includes("s3cr3t"), "a header value leaked into the message");
            return true;
          });
        });
      }
      it("request: options not an object → TypeError", async function () {
        await assert.rejects(t.request(null as unknown as RawRequest), { name: "TypeError", message: "request must be an object" });
      });
      it("probe: bad ip / port / timeout", async function () {
        await assert.rejects(t.probe("metadata.azure.internal", 80, 100), { name: "RangeError" });
        await assert.rejects(t.probe(1 as unknown as string, 80, 100), { name: "TypeError" });
        await assert.rejects(t.probe("127.0.0.1", 0, 100), { name: "RangeError", message: "port must be an integer from 1 to 65535, got 0" });
        await assert.rejects(t.probe("127.0.0.1", 80, 0), { name: "RangeError" });
        await assert.rejects(t.probe("127.0.0.1", 80, "1" as unknown as number), { name: "TypeError" });
      });
    });
  }

  describe("the addon defends itself when called directly", function () {
    const b = loadNative();
    before(function () {
      if (!b) this.skip();
    });
    // azmiAbi6(op, ...): 1 request, 2 requestPool, 3 probe, 4 probePool, 5 duplicateListener.
    const okArgs = ["127.0.0.1", 9, "GET", "/", 100, 100, 100, 0];
    const ok = { ip: "127.0.0.1", port: 9, method: "GET", path: "/", headers: [] as string[], timeoutMs: 100, maxHeaderBytes: 100, maxBodyBytes: 100 };
    it("throws TypeError/RangeError instead of crashing", function () {
      const native = b!.native as (...a: unknown[]) => unknown;
      assert.throws(() => native(), { name: "TypeError", message: /first argument must be an operation number/ });
      for (const op of [0, 6, 1.5, NaN, "1"]) assert.throws(() => native(op), TypeError, String(op));
      // Both probe drivers read their arguments through the same checks.
      for (const op of [3, 4]) {
        const probe = (...a: unknown[]) => native(op, ...a);
        assert.throws(() => probe(), TypeError);
        assert.throws(() => probe(1, 2, 3), TypeError);
        assert.throws(() => probe("127.0.0.1", "80", 100), { name: "TypeError", message: "probe: port must be a number" });
        assert.throws(() => probe("127.0.0.1", 80, "100"), { name: "TypeError", message: "probe: timeoutMs must be a number" });
        assert.throws(() => probe("127.0.0.1", 70000, 100), { name: "RangeError", message: "probe: port must be an integer from 1 to 65535" });
        assert.throws(() => probe("127.0.0.1", 80, -5), RangeError);
        assert.throws(() => probe("127.0.0.1", 80, 2 ** 31), RangeError);
      }
      // Both request drivers read their arguments through the same checks.
      const at = (i: number, v: unknown) => okArgs.map((x, j) => (j === i ? v : x));
      for (const op of [1, 2]) {
        const req = (...a: unknown[]) => native(op, ...a);
        assert.throws(() => req(), TypeError);
        assert.throws(() => req("x"), TypeError);
        assert.throws(() => req(...at(0, 5)), { name: "TypeError", message: "request: ip must be a string" });
        assert.throws(() => req(...at(1, 0)), { name: "RangeError", message: "request: port must be an integer from 1 to 65535" });
        assert.throws(() => req(...at(1, "80")), RangeError);
        assert.throws(() => req(...at(2, null)), { name: "TypeError", message: "request: method must be a string" });
        assert.throws(() => req(...at(3, {})), { name: "TypeError", message: "request: path must be a string" });
        assert.throws(() => req(...at(4, NaN)), RangeError);
        assert.throws(() => req(...at(5, new Number(100))), RangeError);
        assert.throws(() => req(...at(6, -1)), RangeError);
        assert.throws(() => req(...at(7, 65)), { name: "RangeError", message: "request: headerCount must be an integer from 0 to 64" });
        assert.throws(() => req(...at(7, 0.5)), RangeError);
        assert.throws(() => req(...at(7, 1)), { name: "TypeError", message: /header strings, then at most a body/ });
        assert.throws(() => req(...at(7, 1), "a"), TypeError);
        assert.throws(() => req(...at(7, 1), 1, 2), { name: "TypeError", message: "request: headers must be strings" });
        assert.throws(() => req(...at(7, 1), "a", "b", new Uint8Array(1), "extra"), TypeError);
        // More arguments than the addon reads: refused, not truncated.
        assert.throws(() => req(...at(7, 64), ...new Array(200).fill("x")), TypeError);
        assert.throws(() => req(...okArgs, "string"), { name: "TypeError", message: "request: body must be a Buffer" });
        // (Checked with napi_is_buffer first: before Node 20.12 napi_get_buffer_info aborted on these.)
        assert.throws(() => req(...okArgs, {}), TypeError);
        assert.throws(() => req(...okArgs, new ArrayBuffer(4)), TypeError);
        assert.throws(() => req(...okArgs, undefined), TypeError);
        const hostile = { toString() { throw new Error("never called"); } };
        assert.throws(() => req(...at(0, hostile)), TypeError);
      }
      assert.throws(() => native(5), { name: "TypeError", message: "duplicateListener: fd must be a non-negative integer" });
      assert.throws(() => native(5, -1), TypeError);
      assert.throws(() => native(5, 0), (e: Error & { code?: string }) => e.message.startsWith("duplicateListener: ") && typeof e.code === "string");
    });
    // A socket number libuv still watches (closed behind its back by other
    // code) makes uv_poll_init fail: the call must throw, not touch its
    // freed driver (it read env_ after `delete this`, and crashed, in one
    // build of session 17). In a child: libuv's table stays damaged after.
    // (A request: a probe's loopback connect finishes inside the call, before
    // any handle; both go through the same LoopDriver<Machine>::Begin.)
    it("throws when the event loop cannot watch the socket", async function () {
      const script = `
        const net = require("node:net"), fs = require("node:fs");
        const native = require(${JSON.stringify(require.resolve("../../src/transport/http"))}).loadNative().native;
        const silent = net.createServer((s) => s.on("error", () => {}));
        silent.listen(0, "127.0.0.1", () => {
          const port = silent.address().port;
          const c = net.connect(port, "127.0.0.1", () => setImmediate(() => {
            fs.closeSync(c._handle.fd); // libuv still watches this number; the addon's socket() gets it next
            let out = "";
            try { native(1, "127.0.0.1", port, "GET", "/", 500, 1000, 1000, 0); out = "returned"; }
            catch (e) { out = e.message; }
            process.stdout.write(out, () => process.exit(0));
          }));
          c.on("error", () => {});
        });`;
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
      assert.equal(r.signal, null, `died by ${r.signal}; stderr: ${r.stderr}`);
      assert.equal(r.stdout, "azmi: could not watch the socket", r.stderr);
      assert.equal(r.status, 0);
    });
    it("is one function named for its ABI; the binding's methods read bodies of any ArrayBufferView", async function () {
      assert.equal(typeof b!.native, "function");
      assert.equal(b!.native.name, "azmiAbi6");
      assert.deepEqual(Object.keys(b!).sort(), ["duplicateListener", "native", "probe", "probePool", "request", "requestPool"]);
      const withBody = await b!.request({ ...ok, method: "POST", body: new Uint8Array([1, 2]) as Buffer });
      assert.equal(withBody[1], "ECONNREFUSED"); // port 9 refuses; the body was read, not refused as an argument
      // A failure's facts: [elapsedUs, code, phase, detail] (native/js_facts.h).
      const r = await b!.request({ ...ok, body: null as unknown as Buffer });
      assert.equal(r.length, 4);
      assert.deepEqual(r.slice(1), ["ECONNREFUSED", "connect", "connection refused"]);
      assert.ok(Number.isSafeInteger(r[0]) && r[0] >= 0 && r[0] < 100_000, String(r[0]));
    });
    it("rejects as facts what would break framing or is not numeric", async function () {
      for (const name of ["request", "requestPool"] as const) {
        const req = b![name];
        const r1 = await req({ ...ok, ip: "example.com" });
        assert.deepEqual([r1[1], r1[3]], ["ERR_INVALID_ARGUMENT", "ip is not a numeric address"]);
        const r2 = await req({ ...ok, headers: ["X", "a\r\nb"] });
        assert.deepEqual([r2[1], r2[3]], ["ERR_INVALID_ARGUMENT", "invalid header value"]);
        const r3 = await req({ ...ok, path: "/a b" });
        assert.equal(r3[1], "ERR_INVALID_ARGUMENT");
        const r5 = await req({ ...ok, ip: "127.0.0.1\0.evil" });
        assert.equal(r5[1], "ERR_INVALID_ARGUMENT");
      }
      for (const name of ["probe", "probePool"] as const) {
        // A probe's facts: [outcome, elapsedUs, errno?] (native/js_facts.h).
        const r4 = await b![name]("not-an-ip", 80, 100);
        assert.equal(r4.length, 3, name);
        assert.deepEqual([r4[0], typeof r4[1], r4[2]], ["unreachable", "number", "EINVAL"], name);
        const connected = await b![name]("127.0.0.1\0.evil", 80, 100);
        assert.deepEqual([connected[0], connected[2]], ["unreachable", "EINVAL"], `${name}: a NUL in the address`);
      }
    });
  });
});
