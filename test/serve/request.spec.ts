/**
 * Unit checks of the request parsing helpers behind every dialect.
 */
import * as assert from "node:assert/strict";
import { isAllowedHostHeader, isLoopbackHostHeader, isSuspiciousPath, parseQuery, secretMatches } from "../../src/serve/request";

describe("serve: request parsing", () => {
  it("parseQuery decodes, keeps unencoded values, refuses duplicates (any case) and broken escapes", () => {
    assert.deepEqual(parseQuery("api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"), {
      ok: true,
      params: Object.assign(Object.create(null), { "api-version": "2018-02-01", resource: "https://vault.azure.net" }),
    });
    const raw = parseQuery("resource=https://vault.azure.net&x");
    assert.ok(raw.ok && raw.params.resource === "https://vault.azure.net" && raw.params.x === "");
    assert.deepEqual(parseQuery("a=1&A=2"), { ok: false, reason: "duplicate", key: "A" });
    assert.deepEqual(parseQuery("a=%zz"), { ok: false, reason: "malformed", key: "a" });
    assert.ok(parseQuery("a=1&&b=2").ok);
    const form = parseQuery("resource=a+b%2Bc", true);
    assert.ok(form.ok && form.params.resource === "a b+c");
    const query = parseQuery("resource=a+b");
    assert.ok(query.ok && query.params.resource === "a+b");
    const proto = parseQuery("__proto__=x&constructor=y");
    assert.ok(proto.ok && proto.params["__proto__"] === "x" && ({} as Record<string, unknown>).x === undefined);
  });

  it("isSuspiciousPath flags dot segments, escapes, backslashes, empty segments and control bytes", () => {
    for (const p of ["/a/../b", "/a/%2e", "/a\\b", "//a", "/a//b", "a", "", "/a b", "/a\u00e9"]) assert.equal(isSuspiciousPath(p), true, p);
    for (const p of ["/", "/metadata/instance", "/a.b/c-d_e"]) assert.equal(isSuspiciousPath(p), false, p);
  });

  it("isLoopbackHostHeader accepts loopback names only", () => {
    for (const h of ["127.0.0.1", "127.0.0.1:80", "127.255.0.9:1", "localhost", "LOCALHOST:4000", "[::1]:4000", "[::1]"]) assert.equal(isLoopbackHostHeader(h), true, h);
    for (const h of [undefined, "", "evil.example", "127.0.0.1.evil.example", "127.0.0.256", "localhost.evil", "[::2]:1", "10.0.0.1"]) {
      assert.equal(isLoopbackHostHeader(h), false, String(h));
    }
  });

  it("a Host port is digits or nothing (RFC 9110): anything else after the name is a malformed Host", () => {
    const allowed = new Set(["myapp.test"]);
    for (const h of ["localhost:", "127.0.0.1:65535", "[::1]:", "[::1]:4000"]) assert.equal(isLoopbackHostHeader(h), true, h);
    for (const h of ["localhost:abc", "127.0.0.1:1:2", "localhost:4000x", "[::1]x", "[::1]:4000:1", "localhost:123456", "localhost: 80"]) {
      assert.equal(isLoopbackHostHeader(h), false, h);
    }
    for (const h of ["myapp.test", "MyApp.Test:4000", "myapp.test:"]) assert.equal(isAllowedHostHeader(h, allowed), true, h);
    for (const h of ["myapp.test:abc", "myapp.test:1:2", "myapp.test.:80"]) assert.equal(isAllowedHostHeader(h, allowed), false, h);
  });

  it("secretMatches compares exactly", () => {
    const secret = Buffer.from("0123456789abcdef");
    assert.equal(secretMatches("0123456789abcdef", secret), true);
    assert.equal(secretMatches("0123456789abcdeF", secret), false);
    assert.equal(secretMatches("0123456789abcde", secret), false);
    assert.equal(secretMatches(undefined, secret), false);
    assert.equal(secretMatches(["0123456789abcdef"], secret), false);
  });
});
