/**
 * The shared transport suite: every case runs against the native addon and
 * the node:net fallback, checks each against the exact expected outcome, and
 * checks the two agree. Servers are raw loopback sockets writing exact bytes.
 */
import * as assert from "node:assert/strict";
import * as net from "node:net";
import type { Socket } from "node:net";
import type { RawRequest } from "../../src/transport/types";
import { closedPort, dribble, pieces, rawServer, type Responder } from "./loopback";
import { allTransports, label as labelOf, outcomeOf, type Outcome } from "./transports";

interface Case {
  name: string;
  respond: Responder;
  request?: Partial<RawRequest>;
  /** Expected outcome; `$PORT` in messages is replaced by the server port. */
  expect:
    | { status: number; statusText?: string; headers?: Record<string, string>; body?: string }
    | { code: string; phase: string; message?: string };
}

const JSON_BODY = '{"access_token":"x","expires_in":"3599","token_type":"Bearer"}';
const ok200 = `HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}`;

const end = (bytes: string | Buffer): Responder => (s: Socket) => s.end(bytes);

const cases: Case[] = [
  {
    name: "Content-Length body",
    respond: end(ok200),
    expect: { status: 200, statusText: "OK", headers: { "content-type": "application/json; charset=utf-8", "content-length": String(JSON_BODY.length) }, body: JSON_BODY },
  },
  {
    name: "split reads, byte by byte",
    respond: (s) => dribble(s, pieces(ok200, 1), true, 0),
    expect: { status: 200, body: JSON_BODY },
  },
  {
    name: "split reads across CRLF boundaries",
    respond: (s) => dribble(s, ["HTTP/1.1 200 OK\r", "\nContent-Length: 4\r\n\r", "\nab", "cd"]),
    expect: { status: 200, body: "abcd" },
  },
  {
    name: "chunked with extensions and trailers",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;name=value;x\r\nWiki\r\n5 ;y=\"z\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n"),
    expect: { status: 200, headers: { "transfer-encoding": "chunked" }, body: "Wikipedia in\r\n\r\nchunks." },
  },
  {
    name: "chunked, dribbled one byte at a time",
    respond: (s) => dribble(s, pieces("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n", 1), false, 0),
    expect: { status: 200, body: "0123456789X" },
  },
  {
    name: "uppercase hex chunk size and chunked after another coding",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"),
    expect: { status: 200, body: "0123456789" },
  },
  {
    name: "HTTP/1.0, close-delimited body",
    respond: end("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"),
    expect: { status: 200, body: "until close" },
  },
  {
    name: "HTTP/1.1 without framing reads to close",
    respond: (s) => dribble(s, ["HTTP/1.1 200 OK\r\n\r\n", "part1 ", "part2"]),
    expect: { status: 200, body: "part1 part2" },
  },
  {
    name: "100 Continue before the final response",
    respond: end("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-Interim: 1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
    expect: { status: 201, statusText: "Created", headers: { "content-length": "2" }, body: "ok" },
  },
  {
    name: "duplicate headers are joined in order; names lower-cased; OWS trimmed",
    respond: end("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a:2  \r\nSet-Cookie: a=1\r\nSET-COOKIE: b=2\r\nEmpty:\r\nContent-Length: 0\r\n\r\n"),
    expect: { status: 200, headers: { "x-a": "1, 2", "set-cookie": "a=1, b=2", empty: "", "content-length": "0" }, body: "" },
  },
  {
    // The addon finds repeats with a linear scan up to 32 headers and a hash map past that: both paths, same object.
    name: "repeats past 32 headers, an empty first value, three of a kind: joined in order either way",
    respond: end(
      `HTTP/1.1 200 OK\r\nE:\r\ne: x\r\n${Array.from({ length: 40 }, (_, i) => `H${i}: ${i}\r\n`).join("")}T: 1\r\nt: 2\r\nT: 3\r\nh39: again\r\nContent-Length: 0\r\n\r\n`,
    ),
    expect: {
      status: 200,
      headers: {
        e: ", x",
        ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`h${i}`, i === 39 ? "39, again" : String(i)])),
        t: "1, 2, 3",
        "content-length": "0",
      },
      body: "",
    },
  },
  {
    name: "three of a kind within the linear scan; a repeat of an empty value",
    respond: end("HTTP/1.1 200 OK\r\nA: 1\r\nB:\r\na: 2\r\nb:\r\nA: 3\r\nContent-Length: 0\r\n\r\n"),
    expect: { status: 200, headers: { a: "1, 2, 3", b: ", ", "content-length": "0" }, body: "" },
  },
  {
    name: "identical repeated Content-Length is accepted",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc"),
    expect: { status: 200, body: "abc" },
  },
  {
    name: "204 has no body even without framing",
    respond: (s) => s.write("HTTP/1.1 204 No Content\r\nX: y\r\n\r\n"),
    expect: { status: 204, statusText: "No Content", body: "" },
  },
  {
    name: "HEAD response ignores Content-Length",
    request: { method: "HEAD" },
    respond: (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    expect: { status: 200, body: "" },
  },
  {
    name: "status without reason phrase",
    respond: end("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"),
    expect: { status: 404, statusText: "", body: "" },
  },
  {
    name: "bytes after a complete response are ignored",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE MORE GARBAGE"),
    expect: { status: 200, body: "ok" },
  },
  {
    name: "obs-text in a header value passes through as latin1",
    respond: end(Buffer.from("HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n", "latin1")),
    expect: { status: 200, headers: { "x-name": "caf\xe9", "content-length": "0" } },
  },
  // --- caps
  {
    name: "oversize headers",
    respond: end(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(20000)}\r\nContent-Length: 0\r\n\r\n`),
    expect: { code: "ERR_HEADERS_TOO_LARGE", phase: "headers", message: "headers ERR_HEADERS_TOO_LARGE 127.0.0.1:$PORT: response headers exceed 16384 bytes (timeout 2000 ms)" },
  },
  {
    name: "oversize headers without any line end",
    request: { maxHeaderBytes: 100 },
    respond: (s) => s.write(`HTTP/1.1 200 OK${"x".repeat(200)}`),
    expect: { code: "ERR_HEADERS_TOO_LARGE", phase: "headers", message: "headers ERR_HEADERS_TOO_LARGE 127.0.0.1:$PORT: response headers exceed 100 bytes (timeout 2000 ms)" },
  },
  {
    name: "endless 100 Continue responses hit the header cap",
    request: { maxHeaderBytes: 1000 },
    respond: end("HTTP/1.1 100 Continue\r\n\r\n".repeat(100)),
    expect: { code: "ERR_HEADERS_TOO_LARGE", phase: "headers" },
  },
  {
    name: "oversize Content-Length is refused before reading the body",
    request: { maxBodyBytes: 10 },
    respond: (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"),
    expect: { code: "ERR_BODY_TOO_LARGE", phase: "body", message: "body ERR_BODY_TOO_LARGE 127.0.0.1:$PORT: response body exceeds 10 bytes (timeout 2000 ms)" },
  },
  {
    name: "oversize chunked body",
    request: { maxBodyBytes: 10 },
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n"),
    expect: { code: "ERR_BODY_TOO_LARGE", phase: "body" },
  },
  {
    name: "oversize close-delimited body",
    request: { maxBodyBytes: 10 },
    respond: end("HTTP/1.0 200 OK\r\n\r\n0123456789A"),
    expect: { code: "ERR_BODY_TOO_LARGE", phase: "body" },
  },
  {
    name: "body exactly at the cap is fine",
    request: { maxBodyBytes: 10 },
    respond: end("HTTP/1.0 200 OK\r\n\r\n0123456789"),
    expect: { status: 200, body: "0123456789" },
  },
  {
    name: "trailers count against the header cap",
    request: { maxHeaderBytes: 200 },
    respond: end(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${"t".repeat(300)}\r\n\r\n`),
    expect: { code: "ERR_HEADERS_TOO_LARGE", phase: "body" },
  },
  // --- malformed responses
  {
    name: "garbage instead of a status line",
    respond: end("SSH-2.0-OpenSSH_9.2\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: status line is not HTTP/1.x (timeout 2000 ms)" },
  },
  {
    name: "HTTP/2 status line",
    respond: end("HTTP/2 200 OK\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers" },
  },
  {
    name: "non-numeric status",
    respond: end("HTTP/1.1 2x0 OK\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: invalid status code (timeout 2000 ms)" },
  },
  {
    name: "bare LF line endings",
    respond: end("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: line does not end with CRLF (timeout 2000 ms)" },
  },
  {
    name: "obs-fold continuation line",
    respond: end("HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: invalid header line (timeout 2000 ms)" },
  },
  {
    name: "space before the colon",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers" },
  },
  {
    name: "NUL in a header value",
    respond: end("HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: invalid character in header value (timeout 2000 ms)" },
  },
  {
    name: "Transfer-Encoding together with Content-Length",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: both Transfer-Encoding and Content-Length (timeout 2000 ms)" },
  },
  {
    name: "conflicting Content-Length values",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: invalid Content-Length (timeout 2000 ms)" },
  },
  {
    name: "negative Content-Length",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers" },
  },
  {
    name: "chunked not last",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: invalid Transfer-Encoding (timeout 2000 ms)" },
  },
  {
    name: "invalid chunk size",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "body", message: "body ERR_HTTP_PARSE 127.0.0.1:$PORT: invalid chunk size (timeout 2000 ms)" },
  },
  {
    name: "chunk size overflow",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "body" },
  },
  {
    name: "chunk data longer than its size",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "body", message: "body ERR_HTTP_PARSE 127.0.0.1:$PORT: chunk data not followed by CRLF (timeout 2000 ms)" },
  },
  {
    name: "101 Switching Protocols",
    respond: end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
    expect: { code: "ERR_HTTP_PARSE", phase: "headers", message: "headers ERR_HTTP_PARSE 127.0.0.1:$PORT: unexpected 101 Switching Protocols (timeout 2000 ms)" },
  },
  // --- the peer goes away
  {
    name: "closes before sending anything",
    respond: (s) => s.end(),
    expect: { code: "ECONNRESET", phase: "headers", message: "headers ECONNRESET 127.0.0.1:$PORT: connection closed before the response headers were complete (timeout 2000 ms)" },
  },
  {
    name: "closes mid-headers",
    respond: end("HTTP/1.1 200 OK\r\nContent-Le"),
    expect: { code: "ECONNRESET", phase: "headers" },
  },
  {
    name: "closes mid-body",
    respond: end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part"),
    expect: { code: "ECONNRESET", phase: "body", message: "body ECONNRESET 127.0.0.1:$PORT: connection closed before the response body was complete (timeout 2000 ms)" },
  },
  {
    name: "closes mid-chunk",
    respond: end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"),
    expect: { code: "ECONNRESET", phase: "body" },
  },
  {
    name: "resets the connection",
    respond: (s) => s.resetAndDestroy(),
    expect: { code: "ECONNRESET", phase: "headers", message: "headers ECONNRESET 127.0.0.1:$PORT: connection reset by peer (timeout 2000 ms)" },
  },
  {
    name: "resets after part of the body",
    respond: (s) => {
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
      setTimeout(() => s.resetAndDestroy(), 20);
    },
    expect: { code: "ECONNRESET", phase: "body" },
  },
  // --- deadlines
  {
    name: "accepts and never answers",
    request: { timeoutMs: 300 },
    respond: () => {},
    expect: { code: "ETIMEDOUT", phase: "headers", message: "headers ETIMEDOUT 127.0.0.1:$PORT after 300 ms" },
  },
  {
    name: "stalls mid-body",
    request: { timeoutMs: 300 },
    respond: (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    expect: { code: "ETIMEDOUT", phase: "body", message: "body ETIMEDOUT 127.0.0.1:$PORT after 300 ms" },
  },
  {
    name: "trickles bytes forever (the deadline is absolute, not per read)",
    request: { timeoutMs: 300 },
    respond: (s) => {
      s.write("HTTP/1.1 200 OK\r\n");
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write("X: y\r\n")), 10);
      s.on("close", () => clearInterval(t));
    },
    expect: { code: "ETIMEDOUT", phase: "headers" },
  },
];

describe("transport: shared suite (native-loop, native-pool and node:net agree)", function () {
  const transports = allTransports();

  for (const c of cases) {
    it(c.name, async function () {
      const srv = await rawServer(c.respond);
      try {
        const seen: Outcome[] = [];
        for (const t of transports) {
          const req: RawRequest = { ip: "127.0.0.1", port: srv.port, method: "GET", path: "/metadata/identity/oauth2/token?api-version=2018-02-01", headers: [["Metadata", "true"]], timeoutMs: 2000, ...c.request };
          const { elapsedMs, ...o } = await outcomeOf(t, req);
          const label = `[${labelOf(t)}] ${c.name}`;
          if ("status" in c.expect) {
            assert.equal(o.ok, true, `${label}: expected a response, got ${JSON.stringify(o)}`);
            if (!o.ok) return;
            assert.equal(o.status, c.expect.status, label);
            if (c.expect.statusText !== undefined) assert.equal(o.statusText, c.expect.statusText, label);
            if (c.expect.headers !== undefined) assert.deepEqual(o.headers, c.expect.headers, label);
            if (c.expect.body !== undefined) assert.equal(o.body, c.expect.body, label);
          } else {
            assert.equal(o.ok, false, `${label}: expected an error, got ${JSON.stringify(o)}`);
            if (o.ok) return;
            assert.equal(o.name, "TransportError", label);
            assert.equal(o.code, c.expect.code, `${label}: ${o.message}`);
            assert.equal(o.phase, c.expect.phase, `${label}: ${o.message}`);
            assert.equal(o.address, "127.0.0.1", label);
            assert.equal(o.port, srv.port, label);
            if (c.expect.message !== undefined) assert.equal(o.message, c.expect.message.replace("$PORT", String(srv.port)), label);
            if (o.code === "ETIMEDOUT") {
              assert.ok(elapsedMs >= req.timeoutMs - 5, `${label}: returned early (${elapsedMs} ms)`);
              assert.ok(elapsedMs < req.timeoutMs * 3, `${label}: returned late (${elapsedMs} ms)`);
            }
          }
          seen.push(o);
        }
        for (const o of seen.slice(1)) assert.deepEqual(o, seen[0], `transports disagree on "${c.name}"`);
      } finally {
        await srv.close();
      }
    });
  }

  it("peer-chosen header names (__proto__, constructor, toString) stay plain own keys; obs-text values arrive as latin1", async function () {
    const head = "HTTP/1.1 200 OK\r\n__proto__: {\"polluted\":1}\r\nConstructor: c\r\ntoString: t\r\n__PROTO__: again\r\nX-Obs: caf\xe9\r\nContent-Length: 0\r\n\r\n";
    const srv = await rawServer(end(Buffer.from(head, "latin1")));
    try {
      for (const t of transports) {
        const res = await t.request({ ip: "127.0.0.1", port: srv.port, method: "GET", path: "/", timeoutMs: 2000 });
        const label = `[${labelOf(t)}]`;
        assert.equal(Object.getPrototypeOf(res.headers), Object.prototype, label);
        assert.deepEqual(Object.keys(res.headers), ["__proto__", "constructor", "tostring", "x-obs", "content-length"], label);
        assert.equal(Object.getOwnPropertyDescriptor(res.headers, "__proto__")?.value, '{"polluted":1}, again', label);
        assert.equal(res.headers.constructor as unknown, "c", label);
        assert.equal(res.headers["x-obs"], "caf\u00e9", label);
        assert.equal(({} as Record<string, unknown>).polluted, undefined, label);
      }
    } finally {
      await srv.close();
    }
  });

  // Shapes that a careless hand-over of a response would break: empty
  // fields, more headers than the addon's linear scan for repeats takes
  // (native/js_facts.cc), line feeds and NULs in the body.
  it("empty status text and header values, 40 headers with repeats, and a body of every byte arrive alike", async function () {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const many = Array.from({ length: 40 }, (_, i) => `X-H${i % 35}: v${i}\r\n`).join("");
    const head = `HTTP/1.1 200 \r\nX-Empty:\r\nX-Also-Empty: \r\n${many}Content-Length: ${body.length}\r\n\r\n`;
    const srv = await rawServer(end(Buffer.concat([Buffer.from(head, "latin1"), body])));
    try {
      const seen: unknown[] = [];
      for (const t of transports) {
        const res = await t.request({ ip: "127.0.0.1", port: srv.port, method: "GET", path: "/", timeoutMs: 2000 });
        const label = `[${labelOf(t)}]`;
        assert.equal(res.statusText, "", label);
        assert.equal(res.headers["x-empty"], "", label);
        assert.equal(res.headers["x-also-empty"], "", label);
        assert.equal(res.headers["x-h0"], "v0, v35", label);
        assert.equal(Object.keys(res.headers).length, 2 + 35 + 1, label);
        assert.deepEqual(res.body, body, label);
        seen.push([res.status, res.statusText, res.headers, res.body.toString("latin1")]);
      }
      for (const s2 of seen) assert.deepEqual(s2, seen[0]);
    } finally {
      await srv.close();
    }
  });

  it("sends the same request bytes from both transports (Host, Content-Length, Connection added)", async function () {
    const srv = await rawServer(end("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    try {
      for (const t of transports) {
        await t.request({ ip: "127.0.0.1", port: srv.port, method: "POST", path: "/oauth2/token", headers: [["Metadata", "true"], ["Content-Type", "application/x-www-form-urlencoded"]], body: "resource=https%3A%2F%2Fmanagement.azure.com", timeoutMs: 2000 });
        await t.request({ ip: "127.0.0.1", port: srv.port, method: "GET", path: "/", headers: [["Host", "example"], ["Connection", "keep-alive"]], timeoutMs: 2000 });
      }
      const expected = [
        `POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nMetadata: true\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 43\r\nConnection: close\r\n\r\nresource=https%3A%2F%2Fmanagement.azure.com`,
        "GET / HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\n\r\n",
      ];
      assert.deepEqual(srv.requests.map((b) => b.toString("latin1")), transports.flatMap(() => expected));
    } finally {
      await srv.close();
    }
  });

  it("POST without a body still says Content-Length: 0", async function () {
    const srv = await rawServer(end("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    try {
      for (const t of transports) await t.request({ ip: "127.0.0.1", port: srv.port, method: "POST", path: "/", timeoutMs: 2000 });
      for (const r of srv.requests) assert.equal(r.toString("latin1"), `POST / HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    } finally {
      await srv.close();
    }
  });

  it("refused: a closed port fails at once with ECONNREFUSED in the connect phase", async function () {
    const port = await closedPort();
    const seen: Outcome[] = [];
    for (const t of transports) {
      const { elapsedMs, ...o } = await outcomeOf(t, { ip: "127.0.0.1", port, method: "GET", path: "/", timeoutMs: 5000 });
      assert.equal(o.ok, false);
      if (o.ok) return;
      assert.equal(o.code, "ECONNREFUSED");
      assert.equal(o.phase, "connect");
      assert.equal(o.message, `connect ECONNREFUSED 127.0.0.1:${port}: connection refused (timeout 5000 ms)`);
      assert.ok(elapsedMs < 1000, `[${labelOf(t)}] refusal took ${elapsedMs} ms`);
      seen.push(o);
    }
    for (const o of seen.slice(1)) assert.deepEqual(o, seen[0]);
  });

  it("IPv6 loopback works and brackets the address in messages", async function () {
    let srv;
    try {
      srv = await rawServer(end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6"), "::1");
    } catch {
      console.log("    (skipped: no IPv6 loopback here)");
      this.skip();
    }
    try {
      for (const t of transports) {
        const r = await t.request({ ip: "::1", port: srv.port, method: "GET", path: "/", timeoutMs: 2000 });
        assert.equal(r.body.toString(), "v6");
      }
      assert.equal(srv.requests[0]!.toString("latin1").split("\r\n")[1], `Host: [::1]:${srv.port}`);
      const port = await closedPort("::1");
      for (const t of transports) {
        const o = await outcomeOf(t, { ip: "::1", port, method: "GET", path: "/", timeoutMs: 2000 });
        assert.equal(o.ok ? "" : o.message, `connect ECONNREFUSED [::1]:${port}: connection refused (timeout 2000 ms)`);
      }
    } finally {
      await srv.close();
    }
  });

  // Bigger than the socket buffers, so send() hits EAGAIN and the loop driver
  // must wait for writable (the server is in this process: it can only read
  // while the event loop runs).
  it("an 8 MiB request body reaches the server intact (write waits for the peer)", async function () {
    const body = Buffer.alloc(8 * 1024 * 1024, 0x62);
    const srv = await rawServer((s, req) => s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${String(req.length).length}\r\n\r\n${req.length}`));
    try {
      for (const t of transports) {
        const r = await t.request({ ip: "127.0.0.1", port: srv.port, method: "POST", path: "/", body, timeoutMs: 10000 });
        const head = srv.requests[srv.requests.length - 1]!.indexOf("\r\n\r\n") + 4;
        assert.equal(Number(r.body.toString()) - head, body.length, labelOf(t));
        assert.ok(srv.requests[srv.requests.length - 1]!.subarray(head).equals(body), labelOf(t));
      }
    } finally {
      await srv.close();
    }
  });

  it("a peer that never reads the request body: ETIMEDOUT in the write phase", async function () {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      s.pause(); // never read: the client's send buffer fills up
      s.on("error", () => {});
      sockets.add(s);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const seen: Outcome[] = [];
      for (const t of transports) {
        // 1 s: under ASan, copying the 32 MiB body into the request once took
        // most of 400 ms, and the deadline had passed before the connect.
        const { elapsedMs, ...o } = await outcomeOf(t, { ip: "127.0.0.1", port, method: "POST", path: "/", body: Buffer.alloc(32 * 1024 * 1024), timeoutMs: 1000 });
        assert.equal(o.ok, false, labelOf(t));
        if (o.ok) return;
        assert.deepEqual([o.code, o.phase], ["ETIMEDOUT", "write"], `${labelOf(t)}: ${o.message}`);
        assert.ok(elapsedMs >= 995 && elapsedMs < 3000, `${labelOf(t)}: ${elapsedMs} ms`);
        seen.push(o);
      }
      for (const o of seen.slice(1)) assert.deepEqual(o, seen[0]);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("a 1 MiB body arrives intact on both transports", async function () {
    const big = Buffer.alloc(1024 * 1024, 0x61);
    const srv = await rawServer((s) => s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`), big])));
    try {
      for (const t of transports) {
        const r = await t.request({ ip: "127.0.0.1", port: srv.port, method: "GET", path: "/", timeoutMs: 5000 });
        assert.equal(r.body.length, big.length);
        assert.ok(r.body.equals(big));
      }
    } finally {
      await srv.close();
    }
  });
});
