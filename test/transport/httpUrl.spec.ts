/**
 * parseHttpUrl's hand path against WHATWG `URL`: whatever it takes by hand
 * must come out exactly as `new URL` gives it, and whatever `URL` refuses
 * it must refuse the same way. Strings come from a seeded generator that
 * mixes the endpoints azmi sees with the spellings WHATWG rewrites
 * (case, default ports, leading zeros, dot segments, IPv4 shorthands,
 * punycode, fragments, userinfo, quotes, trailing dots...).
 */
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT } from "../netns/harness";
import { randomStrings, seededRandom } from "../support/generate";
import { checkHeader, checkMethod, ipFamily, normalizeRequest, parseHttpUrl, type HttpUrl } from "../../src/transport/http";

const FIELDS = ["href", "protocol", "hostname", "host", "port", "pathname", "search"] as const;

function parts(u: HttpUrl): Record<string, string> {
  return Object.fromEntries(FIELDS.map((f) => [f, u[f]]));
}


/** Each part: spellings WHATWG keeps as written, then spellings it rewrites or refuses. */
const SCHEMES = [["http://", "https://"], ["HTTP://", "Http://", "ftp://", "http:/", "http:", "https:///", "http:\\\\"]] as const;
const HOSTS = [
  ["169.254.169.254", "127.0.0.1", "localhost", "host.docker.internal", "a-b.example", "0.0.0.0", "255.255.255.255", "h", "1host", "1.2.3.0", "a.1"],
  [
    "256.1.1.1", "127.1", "127.0.0.01", "0x7f.0.0.1", "1.2.3", "1.2.3.4.5", "LOCALHOST", "Example.com", "xn--nxasmq6b", "a.xn--nxasmq6b",
    "a..b", "a.", ".a", "a_b", "user@host", "user:pw@host", "[::1]", "[::ffff:127.0.0.1]", "a.0x1", "", "ex ample", "ex%41mple",
    "\u00e9.example", "01.2.3.4", "9.9.9.09",
  ],
] as const;
const PORTS = [["", ":8080", ":0", ":65535", ":1", ":40342"], [":80", ":443", ":080", ":65536", ":99999", ":", ":8a"]] as const;
const PATHS = [
  ["", "/", "/metadata/identity/oauth2/token", "/metadata/identity/oauth2/token/", "/MSI/token", "/a.b/c", "/%41", "/a%zz", "/a;b=c", "/a:b@c", "/~user", "/a+b", "/a%2fb", "/a'b", "//a"],
  ["/a/./b", "/a/../b", "/..", "/.", "/a/%2e/b", "/a/%2E%2E/b", "/a b", "/a`b", "/{x}", "/a|b", "/a\\b", "/\u00e9"],
] as const;
const QUERIES = [
  ["", "?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net", "?a=%", "?a=b?c", "?a=b/c", "??", "?a=b&c"],
  ["?", "?a=b c", "?a='b'", '?a="b"', "?a=<b>", "?a=\u00e9", "?a=`b`", "?a={b}", "?a=b#frag", "#frag"],
] as const;

function generate(count: number, seed: number): string[] {
  const r = seededRandom(seed);
  // Mostly plain parts, so that whole strings of each kind come up often.
  const pick = (part: readonly [readonly string[], readonly string[]]) => {
    const xs = r() < 0.8 ? part[0] : part[1];
    return xs[Math.floor(r() * xs.length)]!;
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(pick(SCHEMES) + pick(HOSTS) + pick(PORTS) + pick(PATHS) + pick(QUERIES));
  return out;
}

describe("transport/httpUrl: parseHttpUrl", () => {
  it("takes the plain endpoint URLs azmi sees by hand, with WHATWG's parts", () => {
    for (const text of [
      "http://169.254.169.254",
      "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
      "http://127.0.0.1:40342/metadata/identity/oauth2/token",
      "http://localhost:4141/MSI/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com",
      "https://localhost:2377/metadata/identity/oauth2/token?api-version=2019-07-01-preview",
      "http://host.docker.internal:41741/MSI/token/",
    ]) {
      const url = parseHttpUrl(text);
      assert.ok(!(url instanceof URL), `${text} should take the hand path`);
      assert.deepEqual(parts(url), parts(new URL(text)), text);
    }
  });

  it("leaves to URL what WHATWG rewrites or refuses (case, default port, dot segments, IPv4 shorthands, fragments)", () => {
    for (const text of [
      "HTTP://localhost/", "http://LOCALHOST/", "http://localhost:80/", "https://localhost:443/x", "http://localhost:080/",
      "http://localhost/a/../b", "http://localhost/a/%2e%2e/b", "http://127.1/", "http://0x7f.0.0.1/", "http://localhost/#x",
      "http://u@localhost/", "http://[::1]:4000/", "http://localhost/?", "http://a.xn--nxasmq6b/", "http://localhost./",
    ]) {
      assert.ok(parseHttpUrl(text) instanceof URL, `${text} should go to URL`);
    }
  });

  it("throws URL's own TypeError for what is not a URL", () => {
    for (const text of ["", "not a url", "http://", "http://256.1.1.1/", "http://1.2.3.4.5/", "http://localhost:65536/"]) {
      assert.throws(() => parseHttpUrl(text), (e: Error) => e instanceof TypeError && (e as { code?: string }).code === "ERR_INVALID_URL", text);
    }
  });

  it("agrees with new URL on 20,000 generated strings, and takes a fair share of them by hand", () => {
    let byHand = 0;
    for (const text of generate(20_000, 20261129)) {
      let expected: Record<string, string> | Error;
      try {
        expected = parts(new URL(text));
      } catch (e) {
        expected = e as Error;
      }
      let got: HttpUrl;
      try {
        got = parseHttpUrl(text);
      } catch (e) {
        assert.ok(expected instanceof Error, `${JSON.stringify(text)}: parseHttpUrl threw, URL did not`);
        assert.equal((e as Error).message, expected.message, JSON.stringify(text));
        continue;
      }
      assert.ok(!(expected instanceof Error), `${JSON.stringify(text)}: URL threw, parseHttpUrl did not`);
      if (!(got instanceof URL)) byHand++;
      assert.deepEqual(parts(got), expected, JSON.stringify(text));
    }
    // The generator is biased toward odd spellings; a guard that the hand path is exercised at all.
    assert.ok(byHand > 4000 && byHand < 16_000, `${byHand} of 20,000 strings took the hand path`);
  });
});

/**
 * The request checks in transport/http.ts are loops over char codes instead
 * of regexes (a fresh process's first use of each regex costs 50–250 µs);
 * these compare them with the patterns they replaced, on generated strings
 * of every ASCII character plus a few beyond.
 */
describe("transport/http: request checks without regexes", () => {
  const OLD = {
    ipv4: /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
    token: /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/,
    fieldValue: /^[\t\x20-\x7e]*$/,
    path: /^(\/[\x21-\x7e]*|\*)$/,
  };
  const EXTRA = ["\u0080", "\u00e9", "\u2028", "\uff10", "\ud83d\ude00"];
  const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));
  const all = [...ascii, ...EXTRA];

  it("ipFamily says 4 exactly where the dotted-quad pattern matched", () => {
    const digitsAndDots = ["0", "1", "2", "5", "9", ".", ".", "25", "255", "256", "00", "x", " ", ":"];
    for (const s of [...randomStrings(1, digitsAndDots, 20_000, 9), ...randomStrings(2, all, 2_000, 16), "1.2.3.4", "255.255.255.255", "01.2.3.4", "1.2.3.4.", ""]) {
      assert.equal(ipFamily(s) === 4, OLD.ipv4.test(s), JSON.stringify(s));
    }
  });

  it("checkMethod and checkHeader accept exactly what the token and field-value patterns did", () => {
    for (const s of [...randomStrings(3, all, 20_000, 6), ""]) {
      let methodOk = true;
      try {
        checkMethod(s);
      } catch {
        methodOk = false;
      }
      assert.equal(methodOk, s.length <= 32 && OLD.token.test(s), `method ${JSON.stringify(s)}`);
      let nameOk = true;
      try {
        checkHeader(s, "v");
      } catch {
        nameOk = false;
      }
      assert.equal(nameOk, OLD.token.test(s) && s.toLowerCase() !== "transfer-encoding", `name ${JSON.stringify(s)}`);
      let valueOk = true;
      try {
        checkHeader("X-A", s);
      } catch {
        valueOk = false;
      }
      assert.equal(valueOk, OLD.fieldValue.test(s), `value ${JSON.stringify(s)}`);
    }
  });

  it("the first request of a process is checked too (an empty ip, method or path once skipped its check)", () => {
    const http = path.join(REPO_ROOT, "dist", "src", "transport", "http.js");
    for (const field of ["ip", "method", "path"]) {
      const request = { ip: "127.0.0.1", port: 1, method: "GET", path: "/", timeoutMs: 1000, [field]: "" };
      const out = execFileSync(process.execPath, ["-e", `try { require(${JSON.stringify(http)}).normalizeRequest(${JSON.stringify(request)}); console.log("accepted"); } catch (e) { console.log(e.name); }`], {
        encoding: "utf8",
      });
      assert.match(out.trim(), /^(TypeError|RangeError)$/, `${field}: ""`);
    }
  });

  it("a request's path passes exactly where the origin-form pattern matched", () => {
    const base = { ip: "127.0.0.1", port: 1, method: "GET", timeoutMs: 1000 };
    for (const s of [...randomStrings(4, ["/", "/", "*", "a", "%", " ", "\u007f", "\u00e9", "?", "#", "\t"], 20_000, 6), ...randomStrings(5, all, 2_000, 8), "*", "/", ""]) {
      let ok = true;
      try {
        normalizeRequest({ ...base, path: s });
      } catch {
        ok = false;
      }
      assert.equal(ok, OLD.path.test(s), JSON.stringify(s));
    }
  });
});
