/**
 * Hardening of `azmi serve` (issue 6 §4, short versions): X-Forwarded-For,
 * path tricks, duplicate query keys, oversized request line / headers /
 * body, garbage on one socket, slowloris, start errors, option validation,
 * non-loopback warning, and no secret or token in any log line.
 */
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as os from "node:os";
import { AzureLogger, setLogLevel, getLogLevel, type AzureLogLevel } from "@azure/logger";
import { redact, registeredSecretCount } from "../../src/log";
import { startServer, type RunningServer } from "../../src/serve/server";
import { get, IMDS_PATH, IMDS_QUERY, raw, useTempHome } from "./support";

describe("serve: hardening", function () {
  this.timeout(60_000);
  const home = useTempHome();
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: home.env });
  });
  after(() => server.close());

  it("X-Forwarded-For is refused on every dialect, even with the right secret", async () => {
    const res = await get(server.port, `/msi/token?api-version=2019-08-01&resource=x`, { "X-IDENTITY-HEADER": server.env.IDENTITY_HEADER!, "X-Forwarded-For": "1.2.3.4" });
    assert.equal(res.status, 400);
    const ml = await get(server.port, `/msi/2017/token?api-version=2017-09-01&resource=x`, { secret: server.env.MSI_SECRET!, "x-forwarded-for": "1.2.3.4" });
    assert.equal(ml.status, 400);
  });

  it("path tricks are never served: 400 for dot segments, encodings, backslashes, double slashes; 404 for unknown paths", async () => {
    const tricks = [
      "/metadata/identity/oauth2/token/../token",
      "/metadata/identity/oauth2/%2e%2e/oauth2/token",
      "/metadata/identity/oauth2/token%2F",
      "/metadata%2Fidentity%2Foauth2%2Ftoken",
      "/metadata\\identity\\oauth2\\token",
      "//metadata/identity/oauth2/token",
      "/metadata/identity//oauth2/token",
      "http://evil.example/metadata/identity/oauth2/token",
      "*",
    ];
    for (const t of tricks) {
      const res = await get(server.port, `${t}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(res.status, 400, t);
      assert.deepEqual(JSON.parse(res.body), { error: "invalid_request", error_description: "Invalid request path" }, t);
    }
    for (const t of ["/", "/metadata/identity/oauth2/TOKEN", "/metadata/instance", "/metadata/identity/oauth2/token/x", "/msi/token/"]) {
      const res = await get(server.port, `${t}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(res.status, 404, t);
      assert.deepEqual(JSON.parse(res.body), { error: "not_found", error_description: "No such endpoint on azmi serve" });
    }
  });

  it("bound to loopback, a Host header naming anything but this machine is refused (DNS rebinding)", async () => {
    const rebound = await raw(server.port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: evil.example:${server.port}\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
    assert.equal(rebound.status, 400);
    assert.match(JSON.parse(rebound.body).error_description, /DNS-rebinding protection/);
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, "127.1.2.3", `[::1]:${server.port}`]) {
      const ok = await raw(server.port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: ${host}\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
      assert.equal(ok.status, 200, host);
    }
  });

  it("--allow-host names are taken as Host, on loopback and beyond it, and nothing else is (a compose file's own extra_hosts name)", async () => {
    const imds = (port: number, host: string) => raw(port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: ${host}\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
    for (const bind of ["127.0.0.1", "0.0.0.0"]) {
      const allowing = await startServer({ env: home.env, host: bind, allowHosts: ["myapp.test", "Compose-Host"], onWarning: () => {} });
      try {
        for (const host of [`myapp.test:${allowing.port}`, "MyApp.Test", "compose-host", `127.0.0.1:${allowing.port}`]) {
          assert.equal((await imds(allowing.port, host)).status, 200, `${bind}: Host ${host}`);
        }
        for (const host of ["other.test", `myapp.test.evil.example:${allowing.port}`, "sub.myapp.test", "myapp.tes"]) {
          const res = await imds(allowing.port, host);
          assert.equal(res.status, 400, `${bind}: Host ${host}`);
          assert.match(JSON.parse(res.body).error_description, /DNS-rebinding protection\) unless started with --allow-host NAME$/);
        }
      } finally {
        await allowing.close();
      }
    }
  });

  it("allowHosts takes host names only: no wildcard, no address, no stray characters", async () => {
    const bad: [unknown, RegExp][] = [
      ["*.test", /allowHosts: "\*\.test" has a wildcard; list each name/],
      ["10.0.0.1", /allowHosts: "10\.0\.0\.1" is an address; addresses need no allowing/],
      ["my_app", /allowHosts: "my_app" is not a host name \(labels of letters, digits and '-'/],
      ["a..b", /is not a host name/],
      ["-a.test", /is not a host name/],
      ["", /allowHosts: "" is not a host name/],
      [5, /allowHosts: 5 is not a host name/],
      ["a\u001b[2J", /allowHosts: "a\\u001b\[2J" is not a host name/],
    ];
    for (const [name, message] of bad) {
      await assert.rejects(startServer({ env: home.env, allowHosts: [name as string] }), { name: "TypeError", message }, String(name));
    }
    await assert.rejects(startServer({ env: home.env, allowHosts: "myapp.test" as never }), { name: "TypeError", message: /allowHosts must be an array/ });
  });

  it("an HTTP/1.1 request without Host gets a 400 with a reason (node:http's own answer was an empty body) and a close", async () => {
    const res = await raw(server.port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nMetadata: true\r\n\r\n`);
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { error: "invalid_request", error_description: "An HTTP/1.1 request must carry a Host header" });
    assert.equal(res.headers.connection, "close");
  });

  it("duplicate query keys are refused on the header dialects too", async () => {
    const res = await get(server.port, `/msi/token?api-version=2019-08-01&resource=a&resource=b`, { "X-IDENTITY-HEADER": server.env.IDENTITY_HEADER! });
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.body).message, "Duplicate query parameter 'resource'.");
  });

  it("oversized request target ⇒ 414, oversized headers ⇒ 431, oversized or chunked-GET body ⇒ 413", async () => {
    const longTarget = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&pad=${"a".repeat(9 * 1024)}`, { Metadata: "true" });
    assert.equal(longTarget.status, 414);
    const hugeTarget = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&pad=${"a".repeat(20 * 1024)}`, { Metadata: "true" });
    assert.equal(hugeTarget.status, 431);
    const hugeHeader = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true", "X-Pad": "b".repeat(17 * 1024) });
    assert.equal(hugeHeader.status, 431);
    const bigBody = await raw(server.port, `POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: ${1024 * 1024}\r\n\r\nresource=`);
    assert.equal(bigBody.status, 413);
    const chunked = await raw(server.port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    assert.equal(chunked.status, 413);
    const chunkedPost = await raw(
      server.port,
      `POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nTransfer-Encoding: chunked\r\n\r\n${"10000\r\n" + "a".repeat(0x10000) + "\r\n"}${"10\r\n" + "a".repeat(16) + "\r\n"}0\r\n\r\n`,
    );
    assert.equal(chunkedPost.status, 413);
  });

  it("garbage on one socket gets 400 and a close, while a keep-alive client on another socket is served", async () => {
    const client = net.connect(server.port, "127.0.0.1");
    await new Promise((r) => client.once("connect", r));
    const responses: string[] = [];
    client.on("data", (d) => responses.push(d.toString()));
    const ask = () => client.write(`GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n`);
    ask();
    const garbage = await raw(server.port, Buffer.from("\x00\x01\x02GARBAGE / HTTP/9.9\r\n\xff\xfe\r\n\r\n", "latin1"));
    assert.equal(garbage.status, 400);
    assert.equal(garbage.headers["connection"], "close");
    ask();
    const deadline = Date.now() + 10_000;
    while (responses.join("").split("HTTP/1.1 200 OK").length - 1 < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    assert.equal(responses.join("").split("HTTP/1.1 200 OK").length - 1, 2);
  });

  it("slowloris: 200 connections dribbling headers do not delay a normal client, and are dropped after the headers timeout", async () => {
    const slow: net.Socket[] = [];
    let closedByServer = 0;
    for (let i = 0; i < 200; i++) {
      const s = net.connect(server.port, "127.0.0.1");
      s.on("error", () => {});
      s.on("close", () => closedByServer++);
      s.resume(); // read the server's 408 so 'end' (and then 'close') can fire
      s.write(`GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
      slow.push(s);
    }
    const drip = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write("X-Drip: 1\r\n");
    }, 500);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 5000, "served while 200 slow connections are open");
      // headersTimeout is 10 s, checked every second: all slow connections must be gone well before 30 s.
      const deadline = Date.now() + 30_000;
      while (closedByServer < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      assert.equal(closedByServer, 200);
    } finally {
      clearInterval(drip);
      for (const s of slow) s.destroy();
    }
  });

  it("a port in use fails with ERR_SERVER_START naming host:port and the fix", async () => {
    await assert.rejects(startServer({ env: home.env, port: server.port }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_SERVER_START");
      assert.equal(
        error.message,
        `azmi serve cannot listen on 127.0.0.1:${server.port}: the port is already in use. Stop the other process or choose another port (port 0 picks a free one).`,
      );
      return true;
    });
  });

  it("bad options fail at the edge with TypeError/RangeError naming the option", async () => {
    await assert.rejects(startServer({ port: 70000 }), { name: "RangeError", message: "port must be an integer from 0 to 65535 (0 picks a free port); got 70000." });
    await assert.rejects(startServer({ issuer: "entra" as "local" }), { name: "TypeError", message: 'issuer must be "local" or "chain"; got "entra".' });
    await assert.rejects(startServer({ faults: { rate: 2 } }), { name: "RangeError", message: "faults.rate must be between 0 and 1 (a share of requests); got 2." });
    await assert.rejects(startServer({ identities: [{ clientId: "" }] }), { name: "TypeError", message: 'identities[0].clientId must be a client id (GUID); got "".' });
    await assert.rejects(startServer({ tenantId: "../etc" }), { name: "TypeError" });
  });

  it("host is an IP address or localhost, for every face (PowerShell's -HostName comes here through the bridge): no name is resolved, no zone id", async () => {
    // A zone id listens, but http://[::1%lo]:PORT, the URL every client is given, is not a URL.
    await assert.rejects(startServer({ env: home.env, host: "::1%lo" }), {
      name: "TypeError",
      message:
        'host must be an IP address to listen on (such as "127.0.0.1", "::1" or "0.0.0.0") or "localhost"; got "::1%lo": an IPv6 zone id (%NAME) cannot be written in the URLs clients are given; use an address without one (::1, :: or a global address).',
    });
    // Refused before any lookup (".invalid" never resolves anyway).
    await assert.rejects(startServer({ env: home.env, host: "azmi-test.invalid" }), {
      name: "TypeError",
      message: 'host must be an IP address to listen on (such as "127.0.0.1", "::1" or "0.0.0.0") or "localhost"; got "azmi-test.invalid": host names are not resolved.',
    });
  });

  it("binding beyond loopback warns (and the header dialects still need their secret)", async () => {
    const warnings: string[] = [];
    const open = await startServer({ env: home.env, host: "0.0.0.0", onWarning: (m) => warnings.push(m) });
    try {
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^azmi serve is listening on 0\.0\.0\.0:\d+: it is reachable from other machines\/containers/);
      assert.equal(open.url, `http://127.0.0.1:${open.port}`);
      assert.equal((await get(open.port, `/msi/token?api-version=2019-08-01&resource=x`)).status, 401);
    } finally {
      await open.close();
    }
  });

  it("bound beyond loopback, a Host that is not an address, localhost, this machine's name or a name under .internal/.localhost gets 400 (DNS rebinding)", async () => {
    // A web page that re-binds its own name to this machine may send Metadata: true to it (same origin).
    const open = await startServer({ env: home.env, host: "0.0.0.0", onWarning: () => {} });
    const imds = (host: string) => raw(open.port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: ${host}\r\nMetadata: true\r\nConnection: close\r\n\r\n`);
    try {
      const own = os.hostname().toLowerCase();
      for (const host of [`127.0.0.1:${open.port}`, "172.17.0.1", `[::1]:${open.port}`, "[fd00::1]", "localhost", `host.docker.internal:${open.port}`, "gateway.docker.internal", "Host.Containers.Internal", "host.lima.internal", "host.orb.internal", `app.localhost:${open.port}`, own, `${own}.local:${open.port}`]) {
        const res = await imds(host);
        assert.equal(res.status, 200, `Host ${host}: ${res.status} ${res.body}`);
      }
      for (const host of ["evil.example", `evil.example:${open.port}`, "host.docker.internal.evil.example", `${own}.evil.example`, "[evil.example]", "192.0.2.1.nip.io", "host.docker.internal.evil.example", "evilinternal", ".internal", "internal.evil.example"]) {
        const res = await imds(host);
        assert.equal(res.status, 400, `Host ${host}: ${res.status}`);
        assert.match(res.body, /DNS-rebinding protection/);
        assert.doesNotMatch(res.body, /access_token/);
      }
    } finally {
      await open.close();
    }
  });

  it("the warning says so when the tokens are the user's own (--issuer chain)", async () => {
    const warnings: string[] = [];
    const upstream = async () => ({ access_token: "never-used", expires_in: "3600", expires_on: "0", not_before: "0", resource: "x", token_type: "Bearer" });
    const open = await startServer({ env: home.env, host: "0.0.0.0", issuer: "chain", upstream, onWarning: (m) => warnings.push(m) });
    try {
      assert.match(warnings[0]!, /Anyone who can reach it can get real tokens of your own credentials \(--issuer chain\)/);
    } finally {
      await open.close();
    }
    assert.doesNotMatch(warnings.join("\n"), /never-used/);
  });

  it("the warning for an IPv6 wildcard writes the address in brackets ([::]:PORT, not :::PORT)", async () => {
    const warnings: string[] = [];
    const open = await startServer({ env: home.env, host: "::", onWarning: (m) => warnings.push(m) });
    try {
      assert.match(warnings[0]!, new RegExp(`^azmi serve is listening on \\[::\\]:${open.port}: it is reachable`));
      // An HTTP/1.1 request without Host is refused with its reason here too (no loopback Host rule on this server).
      const res = await raw(open.port, `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nMetadata: true\r\n\r\n`);
      assert.equal(res.status, 400);
      assert.match(res.body, /must carry a Host header/);
    } finally {
      await open.close();
    }
  });

  it("no token or secret appears in any log line, even at verbose level", async () => {
    const lines: string[] = [];
    const previousLog = AzureLogger.log;
    const previousLevel = getLogLevel();
    AzureLogger.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
    setLogLevel("verbose");
    const secrets: string[] = [];
    try {
      const s = await startServer({ env: home.env, faults: { sequence: [500] }, issuer: "chain", upstream: async () => ({
        access_token: "upstream-secret-token-value-123456",
        expires_in: "3600",
        expires_on: String(Math.floor(Date.now() / 1000) + 3600),
        not_before: String(Math.floor(Date.now() / 1000)),
        resource: "x",
        token_type: "Bearer",
      }) });
      secrets.push(s.env.IDENTITY_HEADER!, s.env.MSI_SECRET!, "upstream-secret-token-value-123456");
      await get(s.port, `/msi/token?api-version=2019-08-01&resource=x`, { "X-IDENTITY-HEADER": s.env.IDENTITY_HEADER! });
      const ok = await get(s.port, `/msi/token?api-version=2019-08-01&resource=x`, { "X-IDENTITY-HEADER": s.env.IDENTITY_HEADER! });
      assert.equal(JSON.parse(ok.body).access_token, "upstream-secret-token-value-123456");
      await get(s.port, `/msi/token?api-version=2019-08-01&resource=x`, { "X-IDENTITY-HEADER": "wrong" + s.env.IDENTITY_HEADER! });
      await s.close();
      const failing = await startServer({ env: home.env, issuer: "chain", upstream: async () => {
        throw new Error(`upstream exploded; header was ${secrets[0]}`);
      } });
      const res = await get(failing.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
      assert.equal(res.status, 500);
      assert.ok(!res.body.includes(secrets[0]!), "error body redacted");
      await failing.close();
    } finally {
      AzureLogger.log = previousLog;
      setLogLevel(previousLevel as AzureLogLevel | undefined);
    }
    assert.ok(lines.length > 0, "something was logged");
    for (const line of lines) for (const secret of secrets) assert.ok(!line.includes(secret), `log line leaks a secret: ${line}`);
  });

  it("a token per resource for any local process does not grow what the process keeps to redact (memory of a long-running server)", async () => {
    // Any local process may ask a local-issuer server for tokens (IMDS has no
    // secret); each new resource is a newly signed token. Every one used to be
    // kept in the redaction set for good: 80,000 requests from another user
    // took a default server from 46 MB to 646 MB, and it never came down.
    const resource = (i: number) => encodeURIComponent(`api://memory-bound-${i}`);
    const first = await get(server.port, `${IMDS_PATH}?api-version=2018-02-01&resource=${resource(0)}`, { Metadata: "true" });
    assert.equal(first.status, 200, first.body);
    const before = registeredSecretCount();
    const tokens: string[] = [];
    // More than the set's pruning size (1,000): what it keeps must not grow with what was served.
    for (let i = 1; i <= 1_100; i++) {
      const res = await get(server.port, `${IMDS_PATH}?api-version=2018-02-01&resource=${resource(i)}`, { Metadata: "true" });
      assert.equal(res.status, 200, res.body);
      tokens.push((JSON.parse(res.body) as { access_token: string }).access_token);
    }
    assert.equal(new Set(tokens).size, 1_100);
    assert.ok(registeredSecretCount() - before < 1_000, `the redaction set grew by ${registeredSecretCount() - before} for 1,100 tokens served`);
    // They are still never written: redaction knows a JWT by its shape.
    for (const token of tokens) assert.equal(redact(`token ${token} end`), "token [REDACTED] end");
  });
});
