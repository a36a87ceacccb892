/**
 * The fast path of `azmi serve` (src/serve/fastPath.ts): plain GETs answered
 * from the socket, everything else handed to node:http. Checked three ways:
 * the parser's plain-or-not decisions; a real http.Server with the fast path
 * in front and a dispatch that records which path each request took; and
 * azmi serve itself, whose answers must be the same bytes (but the Date)
 * with the fast path on and off.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { attachFastPath, parsePlainRequest } from "../../src/serve/fastPath";
import { startServer, type RunningServer } from "../../src/serve/server";
import { useTempHome } from "./support";

/** Send `chunks` (each its own write, `gapMs` apart) on one connection; everything received until the server closes or `waitMs` passes. */
function converse(port: number, chunks: string[], waitMs = 400, gapMs = 30): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    let closedByServer = false;
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("end", () => (closedByServer = true));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closedByServer });
    });
    let i = 0;
    const next = () => {
      if (i < chunks.length) {
        socket.write(chunks[i++]!);
        setTimeout(next, gapMs);
      }
    };
    socket.on("connect", next);
    const timer = setTimeout(() => socket.destroy(), waitMs + gapMs * chunks.length);
  });
}

/** Status codes of every response in `text`, in order. */
function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

describe("serve: the fast path", function () {
  this.timeout(30_000);

  describe("which requests it answers itself", () => {
    const ok = "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true";

    it("a plain GET: method, target, headers by lower-case name, values trimmed; Connection keep-alive or close", () => {
      assert.deepEqual(parsePlainRequest(ok), {
        method: "GET",
        url: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
        headers: Object.assign(Object.create(null) as object, { host: "127.0.0.1", metadata: "true" }),
        close: false,
      });
      assert.equal(parsePlainRequest(`${ok}\r\nX-IDENTITY-HEADER: \t abc \t`)?.headers["x-identity-header"], "abc");
      assert.equal(parsePlainRequest(`${ok}\r\nConnection: Keep-Alive`)?.close, false);
      assert.equal(parsePlainRequest(`${ok}\r\nConnection: close`)?.close, true);
      assert.equal(parsePlainRequest(`${ok}\r\nEmpty:`)?.headers["empty"], "");
      assert.equal(parsePlainRequest("GET / HTTP/1.1\r\nHost: a")?.url, "/");
      assert.equal(parsePlainRequest(`${ok}\r\nConstructor: x`)?.headers["constructor"], "x", "a header named like an Object method is just a header");
    });

    const notPlain: [string, string][] = [
      ["POST", ok.replace("GET", "POST")],
      ["HEAD", ok.replace("GET", "HEAD")],
      ["lower-case method", ok.replace("GET", "get")],
      ["HTTP/1.0", ok.replace("HTTP/1.1", "HTTP/1.0")],
      ["absolute-form target", ok.replace("GET /", "GET http://127.0.0.1/")],
      ["two spaces after the method", ok.replace("GET /", "GET  /")],
      ["a space in the target", ok.replace("resource=x", "resource=a b")],
      ["a fragment", ok.replace("resource=x", "resource=x#y")],
      ["a control byte in the target", ok.replace("resource=x", "resource=\u0001")],
      ["non-ASCII in the target", ok.replace("resource=x", "resource=\u00e9")],
      ["no colon on a header line", `${ok}\r\nBroken`],
      ["an empty header name", `${ok}\r\n: v`],
      ["space before the colon", `${ok}\r\nMetadata : true`],
      ["a folded (obs-fold) line", `${ok}\r\n x`],
      ["a bare LF inside a value", `${ok}\r\nA: b\nc`],
      ["a NUL in a value", `${ok}\r\nA: b\u0000`],
      ["obs-text (non-ASCII) in a value", `${ok}\r\nA: \u00e9`],
      ["a duplicate header (node:http joins them)", `${ok}\r\nMetadata: true`],
      ["a duplicate differing in case", `${ok}\r\nMETADATA: true`],
      ["Content-Length", `${ok}\r\nContent-Length: 0`],
      ["Transfer-Encoding", `${ok}\r\nTransfer-Encoding: chunked`],
      ["Expect", `${ok}\r\nExpect: 100-continue`],
      ["Upgrade", `${ok}\r\nUpgrade: websocket`],
      ["Connection: upgrade", `${ok}\r\nConnection: upgrade`],
      ["no Host (node:http answers its own 400 and closes)", ok.replace("Host: 127.0.0.1\r\n", "")],
      ["more headers than any identity client sends", `${ok}${"\r\nX-A: b".repeat(70).replace(/X-A/g, () => `X-${Math.random().toString(36).slice(2)}`)}`],
    ];
    for (const [what, head] of notPlain) {
      it(`hands over: ${what}`, () => assert.equal(parsePlainRequest(head), undefined));
    }
  });

  describe("in front of a real node:http server", () => {
    let server: http.Server;
    let port: number;
    const seen: { path: "fast" | "node"; url: string }[] = [];
    /** Answers `/slow` after 50 ms, anything else at once; records which path carried each request. */
    const dispatch = (req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push({ path: req instanceof http.IncomingMessage ? "node" : "fast", url: req.url ?? "" });
      const reply = () => {
        const body = Buffer.from(JSON.stringify({ url: req.url, method: req.method }));
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
        res.end(req.method === "HEAD" ? undefined : body);
      };
      if (req.url === "/big") {
        const body = Buffer.alloc(1000, "b");
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": body.length });
        res.end(body);
      } else if (req.url === "/inject") {
        // As azmi serve's `answer` does with a handler that throws.
        try {
          res.writeHead(200, { "X-A": "a\r\nInjected: yes" });
          res.end("x");
        } catch {
          res.writeHead(500, { "Content-Length": 0 });
          res.end();
        }
      } else if (req.url === "/slow") setTimeout(reply, 50);
      else reply();
    };
    let fast: ReturnType<typeof attachFastPath>;

    beforeEach(async () => {
      seen.length = 0;
      server = http.createServer({ keepAliveTimeout: 5_000 }, dispatch);
      fast = attachFastPath(server, dispatch, { maxHeaderBytes: 16 * 1024, idleTimeoutMs: 300, firstByteTimeoutMs: 300 });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as net.AddressInfo).port;
    });
    afterEach(async () => {
      fast.closeAll();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it("pipelined requests, one answered later than the next arrives, are answered in order", async () => {
      const r = await converse(port, ["GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
      assert.deepEqual([...r.text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]), ["/slow", "/b", "/c"]);
      assert.deepEqual(seen, [
        { path: "fast", url: "/slow" },
        { path: "fast", url: "/b" },
        { path: "fast", url: "/c" },
      ]);
      assert.ok(r.closedByServer, "Connection: close is honoured");
    });

    it("a request cut across two reads goes to node:http with the bytes already received, and gets its answer", async () => {
      const r = await converse(port, ["GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /split HTTP/1.1\r\nHo", "st: a\r\nConnection: close\r\n\r\n"]);
      assert.deepEqual(statuses(r.text), [200, 200]);
      assert.deepEqual(seen, [
        { path: "fast", url: "/a" },
        { path: "node", url: "/split" },
      ]);
    });

    it("after a fast GET, a HEAD and a POST with a body on the same connection are node:http's, answered in order", async () => {
      const r = await converse(port, ["GET /a HTTP/1.1\r\nHost: a\r\n\r\nHEAD /h HTTP/1.1\r\nHost: a\r\n\r\nPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
      assert.deepEqual(statuses(r.text), [200, 200, 200, 200]);
      assert.deepEqual(
        seen.map((s) => `${s.path} ${s.url}`),
        ["fast /a", "node /h", "node /p", "node /z"],
        "once handed over, a connection stays with node:http",
      );
    });

    it("garbage after a fast request gets node:http's 400 and a close", async () => {
      let clientErrors = 0;
      server.on("clientError", (_e, socket: net.Socket) => {
        clientErrors++;
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      });
      const r = await converse(port, ["GET /a HTTP/1.1\r\nHost: a\r\n\r\n\u0001\u0002 nonsense\r\n\r\n"]);
      assert.deepEqual(statuses(r.text), [200, 400]);
      assert.equal(clientErrors, 1);
      assert.ok(r.closedByServer);
    });

    it("a keep-alive connection left idle is closed after the idle timeout; one that never sends, after the first-byte timeout", async () => {
      const idle = await converse(port, ["GET /a HTTP/1.1\r\nHost: a\r\n\r\n"], 2_000);
      assert.deepEqual(statuses(idle.text), [200]);
      assert.ok(idle.closedByServer, "closed by the server, not by the test's 2 s limit");
      const silent = await converse(port, [], 2_000);
      assert.equal(silent.text, "");
      assert.ok(silent.closedByServer);
    });

    it("a header value with CR/LF is refused at writeHead, as node:http refuses it: no injected header, a 500", async () => {
      const r = await converse(port, ["GET /inject HTTP/1.1\r\nHost: a\r\n\r\nHEAD /inject HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"]);
      assert.deepEqual(statuses(r.text), [500, 500]);
      assert.doesNotMatch(r.text, /Injected/);
      assert.deepEqual(seen.map((s) => s.path), ["fast", "node"]);
    });

    it("a request without Host is node:http's: its 400 and a close, no handler", async () => {
      const r = await converse(port, ["GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /nohost HTTP/1.1\r\n\r\n"]);
      assert.deepEqual(statuses(r.text), [200, 400]);
      assert.ok(r.closedByServer);
      assert.deepEqual(seen, [{ path: "fast", url: "/a" }]);
    });

    it("after a Connection: close answer the server closes the connection and reads no more (a half-open client that keeps sending)", async () => {
      const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      socket.on("error", () => undefined);
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      const junk = Buffer.alloc(64 * 1024, "j");
      // Before the fix the server only ended its side (a FIN) and went on reading all of this into memory, forever.
      const pump = setInterval(() => socket.write(junk), 10);
      let limitHit = false;
      const limit = setTimeout(() => {
        limitHit = true;
        socket.destroy();
      }, 5_000);
      socket.write("GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      await new Promise((resolve) => socket.once("close", resolve));
      clearInterval(pump);
      clearTimeout(limit);
      assert.deepEqual(statuses(text), [200]);
      assert.ok(!limitHit, "closed by the server (the writes fail), not by the test's 5 s limit");
    });

    it("a client that pipelines requests and never reads the answers cannot make the server buffer them without bound", async () => {
      const serverSockets: net.Socket[] = [];
      server.on("connection", (s: net.Socket) => serverSockets.push(s));
      const one = `GET /big HTTP/1.1\r\nHost: a\r\nX-Pad: ${"p".repeat(25)}\r\n\r\n`;
      assert.equal(one.length, 64, "64-byte requests: every read ends on a request boundary, so none is cut across reads");
      const batch = Buffer.from(one.repeat(64));
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.pause(); // never reads
      let most = 0;
      const buffered = () => {
        for (const s of serverSockets) most = Math.max(most, s.writableLength);
        return most;
      };
      await new Promise<void>((resolve) => {
        let stalled: NodeJS.Timeout | undefined;
        const pump = (): void => {
          clearTimeout(stalled);
          // Each 64-byte request gets a ~1.1 KB answer: before the fix, 16 MB of them sat in memory within a second.
          if (buffered() > 16 * 1024 * 1024 || socket.bytesWritten > 256 * 1024 * 1024) return resolve();
          if (socket.write(batch)) setImmediate(pump);
          else {
            socket.once("drain", pump);
            // The server stopped reading (so this client's writes stopped draining).
            stalled = setTimeout(resolve, 1_000);
          }
        };
        socket.once("connect", pump);
      });
      socket.destroy();
      assert.ok(buffered() < 4 * 1024 * 1024, `the server buffered ${buffered()} bytes of answers`);
    });

    it("a client that half-closes after its requests gets its answers, then the server's close (not the idle timeout's)", async () => {
      const patient = http.createServer({ keepAliveTimeout: 60_000 }, dispatch);
      const patientFast = attachFastPath(patient, dispatch, { maxHeaderBytes: 16 * 1024, idleTimeoutMs: 60_000, firstByteTimeoutMs: 60_000 });
      await new Promise<void>((resolve) => patient.listen(0, "127.0.0.1", resolve));
      try {
        for (const requests of ["GET /a HTTP/1.1\r\nHost: a\r\n\r\n", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost: a\r\n\r\n"]) {
          const socket = net.connect({ port: (patient.address() as net.AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
          socket.on("error", () => undefined);
          let text = "";
          socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
          const limit = setTimeout(() => socket.destroy(), 5_000);
          const ended = await new Promise<boolean>((resolve) => {
            socket.once("end", () => resolve(true));
            socket.once("close", () => resolve(false));
            socket.end(requests);
          });
          clearTimeout(limit);
          socket.destroy();
          assert.deepEqual(statuses(text), requests.includes("/slow") ? [200, 200] : [200]);
          assert.ok(ended, "closed by the server, not by the test's 5 s limit");
        }
      } finally {
        patientFast.closeAll();
        patient.closeAllConnections();
        await new Promise((resolve) => patient.close(resolve));
      }
    });

    it("closeAll drops the connections still on the fast path", async () => {
      const socket = net.connect(port, "127.0.0.1");
      const answered = new Promise((resolve) => socket.once("data", resolve));
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.on("error", () => undefined);
      socket.write("GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
      await answered;
      fast.closeAll();
      await closed;
    });
  });

  describe("azmi serve answers the same bytes with the fast path on and off", () => {
    const home = useTempHome();
    let on: RunningServer;
    let off: RunningServer;
    before(async () => {
      on = await startServer({ env: home.env });
      off = await startServer({ env: { ...home.env, AZMI_SERVE_FAST_PATH: "0" } });
    });
    after(async () => {
      await on.close();
      await off.close();
    });

    /** Dates, tokens, times and correlation ids vary between two servers; the rest must not. */
    function normalize(text: string, server: RunningServer): string {
      return text
        .replace(/^Date: .*$/gm, "Date: <date>")
        .replace(/"access_token":"[^"]+"/g, '"access_token":"<token>"')
        .replace(/"(expires_in|expires_on|not_before)":"\d+"/g, '"$1":"<n>"')
        .replace(/"correlationId":"[^"]+"/g, '"correlationId":"<id>"')
        .replaceAll(String(server.port), "<port>");
    }

    const requests: [string, (s: RunningServer) => string][] = [
      ["IMDS token", (s) => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nMetadata: true\r\n\r\n`],
      ["IMDS without Metadata", (s) => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`],
      ["IMDS duplicate query key", (s) => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=a&resource=b HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nMetadata: true\r\n\r\n`],
      ["IMDS unknown identity", (s) => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&client_id=nobody HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nMetadata: true\r\n\r\n`],
      ["App Service token", (s) => `GET ${new URL(s.dialects.appService.IDENTITY_ENDPOINT!).pathname}?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nX-IDENTITY-HEADER: ${s.dialects.appService.IDENTITY_HEADER}\r\n\r\n`],
      ["App Service wrong secret", (s) => `GET ${new URL(s.dialects.appService.IDENTITY_ENDPOINT!).pathname}?api-version=2019-08-01&resource=x HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nX-IDENTITY-HEADER: wrong\r\n\r\n`],
      ["2017 / ML token", (s) => `GET ${new URL(s.dialects.machineLearning.MSI_ENDPOINT!).pathname}?api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nSecret: ${s.dialects.machineLearning.MSI_SECRET}\r\n\r\n`],
      ["Cloud Shell GET", (s) => `GET ${new URL(s.dialects.cloudShell.MSI_ENDPOINT!).pathname}?resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nMetadata: true\r\n\r\n`],
      ["OIDC discovery", (s) => `GET ${new URL(s.discoveryUrl).pathname} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`],
      ["JWKS", (s) => `GET ${new URL(s.jwksUri).pathname} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`],
      ["no Host header", () => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x HTTP/1.1\r\nMetadata: true\r\n\r\n`],
      ["unknown path", (s) => `GET /nothing/here HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`],
      ["path trick", (s) => `GET /metadata/../x HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`],
      ["foreign Host (DNS rebinding)", () => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x HTTP/1.1\r\nHost: evil.example\r\nMetadata: true\r\n\r\n`],
      ["X-Forwarded-For", (s) => `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nMetadata: true\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n`],
      ["target too long", (s) => `GET /metadata/identity/oauth2/token?resource=${"a".repeat(9000)} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`],
    ];
    for (const [what, build] of requests) {
      it(what, async () => {
        // Twice on one keep-alive connection (the second answer comes from the caches), then closed by the client.
        const [a, b] = await Promise.all(
          [on, off].map(async (s) => normalize((await converse(s.port, [build(s), build(s).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")], 1_000)).text, s)),
        );
        assert.ok(a!.length > 0, "answered");
        assert.equal(a, b);
      });
    }
  });
});
