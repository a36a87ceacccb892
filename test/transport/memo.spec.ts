/**
 * The hot path remembers the last ip, method, path, literal host and URL
 * string that passed its checks (http.ts `passed`, `lastUrl`). Those memos
 * must only skip work, never checks: after a good request, a bad value of
 * each kind is still rejected with the same error, and a different URL is
 * still parsed afresh.
 */
import * as assert from "node:assert/strict";
import { send } from "../../src/transport/http";
import type { RawRequest } from "../../src/transport/types";
import { useCleanEnv } from "../support/env";
import { rawServer, type RawServer } from "./loopback";
import { allTransports, label } from "./transports";

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

describe("transport: validation memos skip work, never checks", function () {
  useCleanEnv();
  let srv: RawServer;
  before(async function () {
    srv = await rawServer((s) => s.end(OK));
  });
  after(async function () {
    await srv.close();
  });

  for (const t of allTransports()) {
    it(`${label(t)}: a bad ip, method or path after a good request still throws`, async function () {
      const good: RawRequest = { ip: "127.0.0.1", port: srv.port, method: "GET", path: "/token", timeoutMs: 2000 };
      assert.equal((await t.request(good)).status, 200);
      await assert.rejects(t.request({ ...good, ip: "127.0.0.1 " }), { name: "RangeError", message: /^ip must be a numeric IPv4 or IPv6 address/ });
      await assert.rejects(t.request({ ...good, method: "GET " }), { name: "RangeError", message: /^method must be an HTTP method token/ });
      await assert.rejects(t.request({ ...good, path: "/token\r\n" }), { name: "RangeError", message: /^path must start with "\/"/ });
      await assert.rejects(t.request({ ...good, ip: 127 as unknown as string }), { name: "TypeError", message: /^ip must be a string/ });
      assert.equal((await t.request(good)).status, 200);
    });
  }

  it("send(): the same URL string twice, then another: each answered by its own endpoint", async function () {
    const other = await rawServer((s) => s.end("HTTP/1.1 204 No Content\r\n\r\n"));
    try {
      const url = `http://127.0.0.1:${srv.port}/a`;
      assert.equal((await send({ url, timeoutMs: 2000 })).status, 200);
      assert.equal((await send({ url, timeoutMs: 2000 })).status, 200);
      assert.equal((await send({ url: `http://127.0.0.1:${other.port}/a`, timeoutMs: 2000 })).status, 204);
      assert.equal((await send({ url: `http://localhost:${other.port}/a`, timeoutMs: 2000 })).status, 204);
      await assert.rejects(send({ url, method: "G T", timeoutMs: 2000 }), { name: "RangeError", message: /^method must be an HTTP method token/ });
      await assert.rejects(send({ url: `http://127.0.0.1:0/a`, timeoutMs: 2000 }), { name: "RangeError", message: "port must be an integer from 1 to 65535, got 0" });
    } finally {
      await other.close();
    }
  });
});
