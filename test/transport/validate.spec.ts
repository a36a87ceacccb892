/**
 * Bad input is rejected at the TypeScript edge with TypeError/RangeError
 * naming the option, identically for both transports, and never reaches C++
 * (a non-numeric host in particular). The addon also defends itself when
 * called directly.
 */
import * as assert from "node:assert/strict";
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
    const ok = { ip: "127.0.0.1", port: 9, method: "GET", path: "/", headers: [], timeoutMs: 100, maxHeaderBytes: 100, maxBodyBytes: 100 };
    it("throws TypeError/RangeError instead of crashing", function () {
      const raw = b as unknown as Record<"probe" | "probePool" | "request" | "requestPool", (...a: unknown[]) => unknown>;
      // Both probe drivers read their arguments through the same checks.
      for (const name of ["probe", "probePool"] as const) {
        const probe = raw[name];
        assert.throws(() => probe(), TypeError);
        assert.throws(() => probe(1, 2, 3), TypeError);
        assert.throws(() => probe("127.0.0.1", "80", 100), { name: "TypeError", message: "probe: port must be a number" });
        assert.throws(() => probe("127.0.0.1", 80, "100"), { name: "TypeError", message: "probe: timeoutMs must be a number" });
        assert.throws(() => probe("127.0.0.1", 70000, 100), { name: "RangeError", message: "probe: port must be an integer from 1 to 65535" });
        assert.throws(() => probe("127.0.0.1", 80, -5), RangeError);
        assert.throws(() => probe("127.0.0.1", 80, 2 ** 31), RangeError);
      }
      // Both drivers read their options through the same checks.
      for (const name of ["request", "requestPool"] as const) {
        const req = raw[name];
        assert.throws(() => req(), TypeError);
        assert.throws(() => req("x"), TypeError);
        assert.throws(() => req({ ...ok, ip: 5 }), TypeError);
        assert.throws(() => req({ ...ok, port: 0 }), RangeError);
        assert.throws(() => req({ ...ok, timeoutMs: NaN }), RangeError);
        assert.throws(() => req({ ...ok, headers: ["a"] }), TypeError);
        assert.throws(() => req({ ...ok, headers: [1, 2] }), TypeError);
        assert.throws(() => req({ ...ok, body: "string" }), TypeError);
        // (Checked with napi_is_buffer first: before Node 20.12 napi_get_buffer_info aborted on these.)
        assert.throws(() => req({ ...ok, body: {} }), TypeError);
        assert.throws(() => req({ ...ok, body: new ArrayBuffer(4) }), TypeError);
        assert.throws(() => req({ ...ok, maxBodyBytes: -1 }), RangeError);
        assert.throws(() => req({ ...ok, get ip() { throw new Error("getter"); } }), /getter/);
        assert.throws(() => req({ ...ok, get maxBodyBytes() { throw new Error("getter"); } }), /getter/);
        assert.throws(() => req({ ...ok, headers: { a: "b" } }), TypeError);
        assert.throws(() => req({ ...ok, port: "80" }), RangeError);
        assert.throws(() => req({ ...ok, maxHeaderBytes: new Number(100) }), RangeError);
        assert.throws(() => req({ ...ok, get headers() { throw new Error("getter"); } }), /getter/);
        assert.throws(() => req({ ...ok, get body() { throw new Error("getter"); } }), /getter/);
        const hostile = ["a", "b"];
        Object.defineProperty(hostile, 0, { get() { throw new Error("element"); } });
        assert.throws(() => req({ ...ok, headers: hostile }), /element/);
      }
    });
    it("exports its six names, read in raw Node-API (options as an object or a function; body any ArrayBufferView)", async function () {
      assert.deepEqual(Object.keys(b!).sort(), ["abiVersion", "duplicateListener", "probe", "probePool", "request", "requestPool"]);
      assert.equal(b!.abiVersion, 4);
      const withBody = (await b!.request({ ...ok, method: "POST", body: new Uint8Array([1, 2]) as Buffer })) as { ok: boolean; code?: string };
      assert.equal(withBody.ok, false); // port 9 refuses; the body was read, not refused as an argument
      assert.equal(withBody.code, "ECONNREFUSED");
      const asFunction = Object.assign(() => 0, ok);
      const viaFunction = (await b!.request(asFunction as unknown as typeof ok)) as { ok: boolean; code?: string };
      assert.equal(viaFunction.code, "ECONNREFUSED");
      const r = (await b!.request({ ...ok, body: null as unknown as Buffer })) as { ok: boolean; code?: string; phase?: string; detail?: string; elapsedMs?: number };
      assert.deepEqual(Object.keys(r), ["ok", "elapsedMs", "code", "phase", "detail"]);
    });
    it("rejects as facts what would break framing or is not numeric", async function () {
      for (const name of ["request", "requestPool"] as const) {
        const req = b![name];
        const r1 = (await req({ ...ok, ip: "example.com" })) as { ok: boolean; code?: string; detail?: string };
        assert.deepEqual([r1.ok, r1.code, r1.detail], [false, "ERR_INVALID_ARGUMENT", "ip is not a numeric address"]);
        const r2 = (await req({ ...ok, headers: ["X", "a\r\nb"] })) as { ok: boolean; code?: string; detail?: string };
        assert.deepEqual([r2.ok, r2.code, r2.detail], [false, "ERR_INVALID_ARGUMENT", "invalid header value"]);
        const r3 = (await req({ ...ok, path: "/a b" })) as { ok: boolean; code?: string };
        assert.equal(r3.code, "ERR_INVALID_ARGUMENT");
        const r5 = (await req({ ...ok, ip: "127.0.0.1\0.evil" })) as { ok: boolean; code?: string };
        assert.equal(r5.code, "ERR_INVALID_ARGUMENT");
      }
      for (const name of ["probe", "probePool"] as const) {
        const r4 = (await b![name]("not-an-ip", 80, 100)) as { outcome: string; errno?: string };
        assert.deepEqual(Object.keys(r4), ["outcome", "elapsedMs", "errno"], name);
        assert.deepEqual(r4, { ...r4, outcome: "unreachable", errno: "EINVAL" }, name);
        const connected = (await b![name]("127.0.0.1\0.evil", 80, 100)) as { outcome: string; errno?: string };
        assert.deepEqual([connected.outcome, connected.errno], ["unreachable", "EINVAL"], `${name}: a NUL in the address`);
      }
    });
  });
});
