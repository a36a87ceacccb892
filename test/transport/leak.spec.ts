/**
 * No crash, no hang, no leaked socket whatever the server sends: 10,000
 * hostile exchanges (garbage, resets, oversize heads and bodies, truncated
 * bodies, random bytes, silence) per transport, comparing the process's
 * open file descriptors before and after.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import type { Socket } from "node:net";
import { TransportError } from "../../src/errors";
import { rawServer } from "./loopback";
import { allTransports, label } from "./transports";

const ROUNDS = Number(process.env.AZMI_LEAK_ROUNDS ?? 10000);
const CONCURRENCY = 16;
const KNOWN = new Set(["ETIMEDOUT", "ECONNRESET", "ERR_HTTP_PARSE", "ERR_HEADERS_TOO_LARGE", "ERR_BODY_TOO_LARGE"]);

const behaviours: Array<(s: Socket) => void> = [
  (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
  (s) => s.end("\x00\x01\x02garbage\r\n\r\n"),
  (s) => s.resetAndDestroy(),
  (s) => s.end(`HTTP/1.1 200 OK\r\nX: ${"h".repeat(20000)}\r\n\r\n`),
  (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n"),
  (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
  (s) => s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX"),
  (s) => s.end(randomBytes(300)),
  (s) => s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
  (s) => {
    s.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
    setImmediate(() => s.resetAndDestroy());
  },
  (s) => s.end(`HTTP/1.0 200 OK\r\n\r\n${"b".repeat(3000)}`),
];

function openFds(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
}

describe("transport: 10,000 hostile exchanges leak nothing", function () {
  this.timeout(240000);

  for (const t of allTransports()) {
    it(`[${label(t)}] ${ROUNDS} mixed hostile exchanges, fds before == after`, async function () {
      await settle();
      const before = openFds();
      let n = 0;
      const srv = await rawServer((s) => {
        const i = n++;
        // Silence (a deadline expiry) only now and then: each costs timeoutMs.
        if (i % 500 === 499) return;
        behaviours[i % behaviours.length]!(s);
      });
      const counts: Record<string, number> = {};
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < ROUNDS) {
          next++;
          try {
            const r = await t.request({ ip: "127.0.0.1", port: srv.port, method: "GET", path: "/", timeoutMs: 200, maxBodyBytes: 2048 });
            counts[`status ${r.status}`] = (counts[`status ${r.status}`] ?? 0) + 1;
          } catch (e) {
            assert.ok(e instanceof TransportError, `unexpected ${String(e)}`);
            assert.ok(KNOWN.has(e.code), `unexpected code ${e.code}: ${e.message}`);
            counts[e.code] = (counts[e.code] ?? 0) + 1;
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await srv.close();
      await settle();
      const after = openFds();
      assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), ROUNDS);
      assert.ok(counts.ETIMEDOUT! > 0 && counts.ECONNRESET! > 0 && counts.ERR_HTTP_PARSE! > 0, JSON.stringify(counts));
      // A leak here would be thousands of sockets; a little slack absorbs
      // descriptors that other suites' leftovers (child pipes, closing
      // servers) open or close while this runs in the shared mocha process.
      assert.ok(after <= before + 3, `open fds went from ${before} to ${after} (${JSON.stringify(counts)})`);
    });
  }
});
