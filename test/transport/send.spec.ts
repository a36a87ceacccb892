/**
 * send(): URL parsing, bounded host resolution, the active transport, the
 * one deadline, HTTPS with thumbprint pinning, and that secrets never reach
 * messages.
 */
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { send, transportKind } from "../../src/transport/http";
import { useCleanEnv } from "../support/env";
import { rawServer, type RawServer } from "./loopback";

const OK = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

describe("transport: send()", function () {
  const env = useCleanEnv();
  let srv: RawServer;
  let silent: RawServer;

  before(async function () {
    srv = await rawServer((s) => s.end(OK));
    silent = await rawServer(() => {});
  });
  after(async function () {
    await srv.close();
    await silent.close();
  });

  for (const kind of ["native", "node"] as const) {
    describe(`[AZMI_TRANSPORT=${kind}]`, function () {
      beforeEach(function () {
        process.env.AZMI_TRANSPORT = kind;
        if (kind === "native" && transportKind() !== "native") this.skip();
      });
      afterEach(function () {
        delete process.env.AZMI_TRANSPORT;
      });

      it("reports the transport in use", function () {
        assert.equal(transportKind(), kind);
      });

      it("localhost → 127.0.0.1 without DNS; Host keeps the name; path and query pass through encoded", async function () {
        const before = srv.requests.length;
        const res = await send({ url: `http://localhost:${srv.port}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net`, headers: { Metadata: "true" }, timeoutMs: 2000 });
        assert.equal(res.status, 200);
        assert.equal(res.headers["content-type"], "application/json");
        assert.equal(res.body.toString(), "{}");
        assert.equal(
          srv.requests[before]!.toString("latin1"),
          `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\nHost: localhost:${srv.port}\r\nMetadata: true\r\nConnection: close\r\n\r\n`,
        );
      });

      it("POST with a string body (Cloud Shell shape)", async function () {
        const before = srv.requests.length;
        await send({ url: new URL(`http://127.0.0.1:${srv.port}/oauth2/token`), method: "POST", headers: { Metadata: "true", "Content-Type": "application/x-www-form-urlencoded" }, body: "resource=https%3A%2F%2Fmanagement.azure.com", timeoutMs: 2000 });
        assert.equal(
          srv.requests[before]!.toString("latin1"),
          `POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nMetadata: true\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 43\r\nConnection: close\r\n\r\nresource=https%3A%2F%2Fmanagement.azure.com`,
        );
      });

      it("a name from /etc/hosts resolves through dns.lookup (no network)", async function () {
        const hosts = fs.readFileSync("/etc/hosts", "utf8");
        const name = /^127\.0\.0\.1\s+(?!localhost\b)([\w.-]+)/m.exec(hosts)?.[1];
        if (!name) {
          console.log("    (skipped: /etc/hosts has no extra 127.0.0.1 name)");
          this.skip();
        }
        const res = await send({ url: `http://${name}:${srv.port}/`, timeoutMs: 5000 });
        assert.equal(res.status, 200);
      });

      it("ignores proxy variables", async function () {
        env.set({ HTTP_PROXY: "http://127.0.0.1:9", http_proxy: "http://127.0.0.1:9", NO_PROXY: "" });
        const res = await send({ url: `http://127.0.0.1:${srv.port}/`, timeoutMs: 2000 });
        assert.equal(res.status, 200);
      });

      it("one deadline, and the event loop keeps ticking meanwhile", async function () {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 10);
        const started = performance.now();
        try {
          await assert.rejects(send({ url: `http://127.0.0.1:${silent.port}/`, timeoutMs: 400 }), {
            name: "TransportError",
            code: "ETIMEDOUT",
            phase: "headers",
            message: `headers ETIMEDOUT 127.0.0.1:${silent.port} after 400 ms`,
          });
        } finally {
          clearInterval(timer);
        }
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 395 && elapsed < 1200, `took ${elapsed} ms`);
        assert.ok(ticks >= 10, `the event loop ticked only ${ticks} times in ${elapsed} ms`);
      });

      it("never puts a secret header value in an error", async function () {
        const secret = "s3cr3t-identity-header-value";
        await assert.rejects(send({ url: `http://127.0.0.1:${silent.port}/`, headers: { "X-IDENTITY-HEADER": secret }, timeoutMs: 100 }), (e: Error) => {
          assert.ok(!e.message.includes(secret) && !String(e.stack).includes(secret));
          return true;
        });
        await assert.rejects(send({ url: `http://127.0.0.1:${silent.port}/`, headers: { secret: `${secret}\r\n` }, timeoutMs: 100 }), (e: Error) => {
          assert.equal(e.name, "RangeError");
          assert.ok(!e.message.includes(secret));
          return true;
        });
      });
    });
  }

  describe("options", function () {
    it("rejects bad options naming them", async function () {
      await assert.rejects(send(null as never), { name: "TypeError", message: "send() options must be an object" });
      await assert.rejects(send({ url: 5 as never, timeoutMs: 1 }), { name: "TypeError", message: "url must be a string or a URL" });
      await assert.rejects(send({ url: "/relative", timeoutMs: 1 }), { name: "TypeError", message: /^url must be an absolute http: or https: URL/ });
      await assert.rejects(send({ url: "ftp://127.0.0.1/", timeoutMs: 1 }), { name: "RangeError", message: "url must use http: or https:, got ftp:" });
      await assert.rejects(send({ url: "http://127.0.0.1/" } as never), { name: "TypeError", message: "timeoutMs must be a number of milliseconds" });
      await assert.rejects(send({ url: "http://127.0.0.1/", timeoutMs: 0 }), { name: "RangeError" });
      await assert.rejects(send({ url: "http://127.0.0.1/", timeoutMs: 10, method: "G T" }), { name: "RangeError" });
      await assert.rejects(send({ url: "http://127.0.0.1/", timeoutMs: 10, headers: { a: 1 as never } }), { name: "TypeError" });
      await assert.rejects(send({ url: "http://127.0.0.1/", timeoutMs: 10, body: 1 as never }), { name: "TypeError" });
      // 63 headers and the Host send() adds make 64, the most the addon reads; one more is refused up front.
      const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-${i}`, "v"]));
      await assert.rejects(send({ url: "http://127.0.0.1:9/", timeoutMs: 100, headers: many(64) }), {
        name: "RangeError",
        message: "headers: at most 64 fields, Host included, can be sent (got 65)",
      });
      await assert.rejects(send({ url: "http://127.0.0.1:9/", timeoutMs: 100, headers: many(63) }), { code: "ECONNREFUSED" });
      await assert.rejects(send({ url: "http://127.0.0.1:9/", timeoutMs: 100, headers: { ...many(63), Host: "h" } }), { code: "ECONNREFUSED" });
      await assert.rejects(send({ url: "http://127.0.0.1:9/", timeoutMs: 100, headers: { ...many(64), Host: "h" } }), { name: "RangeError" });
      await assert.rejects(send({ url: "https://127.0.0.1/", timeoutMs: 10, pinnedThumbprint: "abc" }), {
        name: "RangeError",
        message: "pinnedThumbprint must be a SHA-1 thumbprint: 40 hex digits (colons allowed)",
      });
    });
  });

  describe("https (Service Fabric) with thumbprint pinning", function () {
    let dir: string;
    let server: https.Server;
    let port: number;
    let thumbprint: string;
    const seen: string[] = [];
    const SECRET = "sf-secret-value-123";

    before(async function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-tls-"));
      try {
        execFileSync("openssl", [
          "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem"), "-days", "2",
          "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ], { stdio: "ignore" });
      } catch {
        console.log("    (skipped: openssl is not available to make a test certificate)");
        this.skip();
      }
      const cert = fs.readFileSync(path.join(dir, "cert.pem"));
      thumbprint = new X509Certificate(cert).fingerprint; // "AB:CD:..." upper case
      server = https.createServer({ key: fs.readFileSync(path.join(dir, "key.pem")), cert }, (req, res) => {
        seen.push(String(req.headers.secret));
        res.setHeader("Content-Type", "application/json");
        res.end('{"token_type":"Bearer"}');
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      port = (server.address() as AddressInfo).port;
    });
    after(async function () {
      if (server) await new Promise<void>((r) => server.close(() => r()));
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("accepts a self-signed certificate whose thumbprint matches (any case, colons allowed)", async function () {
      const res = await send({ url: `https://localhost:${port}/metadata/identity/oauth2/token?api-version=2019-07-01-preview`, headers: { secret: SECRET }, timeoutMs: 5000, pinnedThumbprint: thumbprint });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), '{"token_type":"Bearer"}');
      const res2 = await send({ url: `https://127.0.0.1:${port}/`, headers: { secret: SECRET }, timeoutMs: 5000, pinnedThumbprint: thumbprint.replace(/:/g, "").toLowerCase() });
      assert.equal(res2.status, 200);
      assert.deepEqual(seen.splice(0), [SECRET, SECRET]);
    });

    it("without a pin, a self-signed certificate fails with ERR_TLS and nothing is sent", async function () {
      await assert.rejects(send({ url: `https://localhost:${port}/`, headers: { secret: SECRET }, timeoutMs: 5000 }), (e: Error & { code: string; phase: string }) => {
        assert.equal(e.name, "TransportError");
        assert.equal(e.code, "ERR_TLS");
        assert.equal(e.phase, "tls");
        assert.match(e.message, new RegExp(`^tls ERR_TLS 127\\.0\\.0\\.1:${port}: server certificate rejected \\(DEPTH_ZERO_SELF_SIGNED_CERT\\) \\(timeout 5000 ms\\)$`));
        assert.ok(!e.message.includes(SECRET));
        return true;
      });
      assert.deepEqual(seen, []);
    });

    it("a wrong pin fails with ERR_TLS_THUMBPRINT_MISMATCH before the secret is sent", async function () {
      await assert.rejects(send({ url: `https://localhost:${port}/`, headers: { secret: SECRET }, timeoutMs: 5000, pinnedThumbprint: "00".repeat(20) }), {
        name: "TransportError",
        code: "ERR_TLS_THUMBPRINT_MISMATCH",
        phase: "tls",
        message: `tls ERR_TLS_THUMBPRINT_MISMATCH 127.0.0.1:${port}: server certificate thumbprint does not match the pinned thumbprint (timeout 5000 ms)`,
      });
      assert.deepEqual(seen, []);
    });

    it("a plain-HTTP server behind an https: URL fails in the tls phase", async function () {
      const plain = net.createServer((s) => s.on("error", () => {}).resume().end(OK));
      await new Promise<void>((r) => plain.listen(0, "127.0.0.1", () => r()));
      try {
        const p = (plain.address() as AddressInfo).port;
        await assert.rejects(send({ url: `https://127.0.0.1:${p}/`, timeoutMs: 5000, pinnedThumbprint: thumbprint }), { code: "ERR_TLS", phase: "tls" });
      } finally {
        await new Promise<void>((r) => plain.close(() => r()));
      }
    });

    it("a body cap applies to HTTPS too", async function () {
      await assert.rejects(send({ url: `https://localhost:${port}/`, timeoutMs: 5000, pinnedThumbprint: thumbprint, maxBodyBytes: 5 }), { code: "ERR_BODY_TOO_LARGE", phase: "body" });
      seen.splice(0);
    });
  });
});
