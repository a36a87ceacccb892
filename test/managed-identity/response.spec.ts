/**
 * Response parsing (spec §5, checklist 46–50) — unit level on `response.ts`
 * and end to end through the credential.
 */
import * as assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { bodyText, hasSpaceOrControl, parse2017Date, parseExpiresOn, parseTokenResponse } from "../../src/managed-identity/response";
import { randomStrings, seededRandom } from "../support/generate";
import type { RawResponse } from "../../src/transport/types";
import { json } from "../fakes/common";
import { startFakeImds } from "../fakes/imds";
import { startFakeMsi2017 } from "../fakes/machineLearning";
import { fakeToken, formatExpiresOn } from "../fakes/tokens";
import { assertNoSecrets, cleanupHomes, credential, rejection, safeEnv } from "./helpers";

const ctx = { source: "IMDS", endpoint: "127.0.0.1:4000", now: Date.UTC(2030, 0, 1) };
const raw = (body: unknown, status = 200): RawResponse => ({
  status,
  statusText: "OK",
  headers: { "content-type": "application/json" },
  body: Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  elapsedMs: 1,
});

describe("managed-identity/response", () => {
  after(cleanupHomes);

  it("expires_on: epoch number, numeric string, 2017 Linux and Windows dates, ISO-8601", () => {
    const at = Date.UTC(2030, 10, 28, 23, 22, 33);
    assert.equal(parseExpiresOn(at / 1000), at);
    assert.equal(parseExpiresOn(String(at / 1000)), at);
    // Numeric strings with a fraction are numbers too (JS and .NET coerce them).
    assert.equal(parseExpiresOn(`${at / 1000}.5`), at + 500);
    assert.equal(parseExpiresOn("11/28/2030 23:22:33 +00:00"), at);
    assert.equal(parseExpiresOn("11/28/2030 11:22:33 PM +00:00"), at);
    assert.equal(parseExpiresOn("2030-11-28T23:22:33Z"), at);
    assert.equal(parseExpiresOn("2030-11-28T23:22:33.000Z"), at);
    assert.equal(parse2017Date("1/16/2020 5:24:12 AM +00:00"), Date.UTC(2020, 0, 16, 5, 24, 12));
    assert.equal(parse2017Date("06/20/2019 02:57:58 +00:00"), Date.UTC(2019, 5, 20, 2, 57, 58));
    assert.equal(parse2017Date("1/16/2020 12:00:00 AM +00:00"), Date.UTC(2020, 0, 16, 0, 0, 0));
    assert.equal(parse2017Date("1/16/2020 12:00:00 PM +00:00"), Date.UTC(2020, 0, 16, 12, 0, 0));
    assert.equal(parse2017Date("06/20/2019 02:57:58 +02:00"), Date.UTC(2019, 5, 20, 0, 57, 58));
    for (const bad of ["2/31/2020 01:00:00 +00:00", "13/01/2020 01:00:00 +00:00", "1/1/2020 13:00:00 PM +00:00", "tomorrow", "", "0x10"]) {
      assert.equal(parseExpiresOn(bad), undefined, bad);
    }
  });

  it("a numeric expires_on is recognised exactly as the pattern /^\\s*-?\\d+(\\.\\d+)?\\s*$/ did (now a loop)", () => {
    const NUMERIC = /^\s*-?\d+(\.\d+)?\s*$/;
    const alphabet = ["0", "1", "9", "-", ".", " ", "\t", "\n", "\u00a0", "\u2028", "\ufeff", "+", "e", "x", "\uff11", "٣"];
    for (const s of randomStrings(7, alphabet, 30_000, 7)) {
      // Strings that are not numbers may still be dates (none of these are): undefined for both.
      assert.equal(parseExpiresOn(s), NUMERIC.test(s) ? Number(s) * 1000 : undefined, JSON.stringify(s));
    }
  });

  it("bodyText decodes exactly the bodies isUtf8 accepts (U+FFFD only sends a body to isUtf8), a leading BOM dropped", () => {
    // Bytes that make and break UTF-8: ASCII, lead and continuation bytes, U+FFFD's own encoding, a BOM.
    const pieces = [[0x41], [0x7b], [0x20], [0xc3, 0xa9], [0xc3], [0xa9], [0xe2, 0x82, 0xac], [0xe2, 0x82], [0xef, 0xbf, 0xbd], [0xef, 0xbb, 0xbf], [0xf0, 0x9f, 0x98, 0x80], [0xf0, 0x9f], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff], [0x00]];
    const r = seededRandom(21);
    let invalid = 0;
    for (let i = 0; i < 20_000; i++) {
      const bytes: number[] = [];
      for (let n = Math.floor(r() * 6); n > 0; n--) bytes.push(...pieces[Math.floor(r() * pieces.length)]!);
      const body = Buffer.from(bytes);
      const text = body.toString("utf8");
      const expected = isUtf8(body) ? (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) : undefined;
      if (expected === undefined) invalid++;
      assert.equal(bodyText(body), expected, body.toString("hex"));
    }
    assert.ok(invalid > 1000, "the generator makes invalid bodies too");
    assert.equal(bodyText(Buffer.from([0xef, 0xbf, 0xbd])), "\ufffd", "a U+FFFD the endpoint sent is kept");
  });

  it("hasSpaceOrControl answers as /[\\s\\u0000-\\u001f\\u007f]/ did, lone surrogates included", () => {
    const pattern = /[\s\u0000-\u001f\u007f]/;
    const alphabet = ["a", "Z", "0", "-", "_", ".", "~", "(", "+", "/", "=", "%", " ", "\t", "\n", "\u0000", "\u001f", "\u007f", "\u0080", "\u00a0", "\u2028", "\ufeff", "\u3000", "\ud800", "\udc00", "\ud83d\ude00", "é"];
    for (const s of [...randomStrings(22, alphabet, 30_000, 8), `eyJ${"a".repeat(1400)}.x_y-z`]) {
      assert.equal(hasSpaceOrControl(s), pattern.test(s), JSON.stringify(s));
    }
  });

  it("checklist 46: numeric-string expires_on ⇒ expiresOnTimestamp = expires_on × 1000", () => {
    const on = ctx.now / 1000 + 3600;
    const t = parseTokenResponse(raw({ access_token: "tok_abcdefgh", expires_on: String(on), resource: "r", not_before: String(on - 3600), client_id: "c" }), ctx);
    assert.deepEqual(t, { token: "tok_abcdefgh", expiresOnTimestamp: on * 1000, tokenType: "Bearer", resource: "r", clientId: "c", notBeforeTimestamp: (on - 3600) * 1000 });
  });

  it("checklist 48 (differs from JS on purpose): expires_in only ⇒ now + expires_in, not 'expired now'", () => {
    const t = parseTokenResponse(raw({ access_token: "tok_abcdefgh", expires_in: "3599" }), ctx);
    assert.equal(t.expiresOnTimestamp, ctx.now + 3_599_000);
  });

  it("refresh_in sets refreshAfterTimestamp; otherwise none (the TokenCache applies half-life / 5 min)", () => {
    const t = parseTokenResponse(raw({ access_token: "tok_abcdefgh", expires_in: 86400, refresh_in: 43200 }), ctx);
    assert.equal(t.refreshAfterTimestamp, ctx.now + 43_200_000);
    assert.equal(parseTokenResponse(raw({ access_token: "tok_abcdefgh", expires_in: 86400 }), ctx).refreshAfterTimestamp, undefined);
    assert.equal(parseTokenResponse(raw({ access_token: "tok_abcdefgh", expires_in: 60, refresh_in: 120 }), ctx).refreshAfterTimestamp, undefined);
    // refresh_in 0 would make the token due for refresh the moment it arrives (a refresh on every call): ignored.
    for (const zero of [0, "0"]) {
      assert.equal(parseTokenResponse(raw({ access_token: "tok_abcdefgh", expires_in: 86400, refresh_in: zero }), ctx).refreshAfterTimestamp, undefined, JSON.stringify(zero));
    }
  });

  const bad: Array<[string, unknown, string]> = [
    ["not JSON", "<html><body>Proxy error</body></html>", 'returned a 200 body that is not JSON (application/json): "<html><body>Proxy error</body></html>"'],
    ["JSON array", [1], "returned a 200 JSON body that is not an object"],
    ["no access_token", { expires_in: "10" }, "returned 200 with no access_token field"],
    ["numeric access_token", { access_token: 5, expires_in: "10" }, "returned 200 with access_token of type number"],
    ["empty access_token", { access_token: "", expires_in: "10" }, "returned 200 with access_token of type string (empty)"],
    ["token with CRLF", { access_token: "tok_abc\r\nX: y", expires_in: "10" }, "returned an access_token containing whitespace or control characters"],
    ["garbage expires_on", { access_token: "tok_abcdefgh", expires_on: "soon" }, 'returned an expires_on that is neither epoch seconds nor a date: "soon"'],
    ["no expiry", { access_token: "tok_abcdefgh" }, "returned a token without a usable expires_on or expires_in"],
    ["expired", { access_token: "tok_abcdefgh", expires_on: String(ctx.now / 1000 - 10) }, "returned a token whose expires_on (2029-12-31T23:59:50.000Z) is already in the past; check the clock of this machine and of the endpoint"],
    ["negative expires_in", { access_token: "tok_abcdefgh", expires_in: "-5" }, 'returned a token whose expires_in ("-5") is not a positive number of seconds'],
    ["zero expires_in", { access_token: "tok_abcdefgh", expires_in: 0 }, 'returned a token whose expires_in ("0") is not a positive number of seconds'],
    ["absurd (ms instead of s)", { access_token: "tok_abcdefgh", expires_on: String(ctx.now + 3_600_000) }, "more than 7 days ahead; it looks like epoch milliseconds (2030-01-01T01:00:00.000Z), but expires_on is epoch seconds"],
    ["absurd (far future)", { access_token: "tok_abcdefgh", expires_on: String(ctx.now / 1000 + 30 * 86400) }, "more than 7 days ahead)"],
  ];
  for (const [name, body, what] of bad) {
    it(`ERR_INVALID_RESPONSE naming source and field: ${name}`, () => {
      let err: (Error & { code?: string }) | undefined;
      try {
        parseTokenResponse(raw(body), ctx);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      assert.ok(err, "expected an error");
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_INVALID_RESPONSE");
      assert.ok(err.message.startsWith("ManagedIdentityCredential: IMDS at 127.0.0.1:4000 "), err.message);
      assert.ok(err.message.includes(what), `${err.message}\n  should include\n${what}`);
    });
  }

  it("non-UTF-8 body ⇒ ERR_INVALID_RESPONSE without the bytes", () => {
    assert.throws(() => parseTokenResponse(raw(Buffer.from([0xff, 0xfe, 0x41])), ctx), /body that is not valid UTF-8 \(3 bytes\)/);
  });

  it("a token in a non-JSON body is never quoted", () => {
    const token = fakeToken();
    const err = (() => {
      try {
        parseTokenResponse(raw(`access_token=${token}&x`), ctx);
      } catch (e) {
        return e;
      }
    })();
    assertNoSecrets(err, [token]);
  });

  it("a token whose JSON is otherwise bad is registered and redacted from the quoted snippet", () => {
    const token = fakeToken();
    const err = (() => {
      try {
        parseTokenResponse(raw(`{"access_token":"${token}", broken`), ctx);
      } catch (e) {
        return e;
      }
    })();
    assertNoSecrets(err, [token]);
  });

  it("checklist 47 (differs from JS on purpose): a 2017 date expires_on is a valid token, cached", async () => {
    const ml = await startFakeMsi2017({ expiresOnFormat: "windows" });
    try {
      const c = credential(safeEnv(ml.env));
      const t1 = await c.getToken("https://vault.azure.net/.default");
      const t2 = await c.getToken("https://vault.azure.net/.default");
      assert.equal(t1, t2);
      assert.equal(ml.tokenRequests().length, 1);
      const expected = Math.floor(Date.now() / 1000) + 3600;
      assert.ok(Math.abs(t1.expiresOnTimestamp / 1000 - expected) <= 5, String(formatExpiresOn(expected, "windows")));
    } finally {
      await ml.close();
    }
  });

  it("checklist 49/50: a 24 h token gets refreshAfterTimestamp at half-life and is cached; a 1 h token gets none", async () => {
    const imds = await startFakeImds({ lifetimeSec: 86400 });
    const short = await startFakeImds({ lifetimeSec: 3600 });
    try {
      const c = credential(safeEnv(imds.env));
      const before = Date.now();
      const t = await c.getToken("https://vault.azure.net/.default");
      const half = (t.expiresOnTimestamp - before) / 2;
      assert.ok(Math.abs(t.refreshAfterTimestamp! - (before + half)) < 2000, `${t.refreshAfterTimestamp} vs ${before + half}`);
      await c.getToken("https://vault.azure.net/.default");
      assert.equal(imds.tokenRequests().length, 1);
      const s = await credential(safeEnv(short.env)).getToken("https://vault.azure.net/.default");
      assert.equal(s.refreshAfterTimestamp, undefined);
    } finally {
      await imds.close();
      await short.close();
    }
  });

  it("checklist 49 at the boundary: a token the endpoint says lives exactly 2 h (expires_in 7200) gets no refreshAfterTimestamp; 7201 s gets half-life", async () => {
    const answer = (expiresIn: string) => json(200, { access_token: "tok-two-hours-exactly", expires_in: expiresIn, resource: "https://vault.azure.net", token_type: "Bearer" });
    const imds = await startFakeImds({ faults: [answer("7200"), answer("7201")] });
    try {
      const two = await credential(safeEnv(imds.env)).getToken("https://vault.azure.net/.default");
      assert.equal(two.refreshAfterTimestamp, undefined, "the round trip is not part of the token's lifetime");
      const before = Date.now();
      const longer = await credential(safeEnv(imds.env)).getToken("https://management.azure.com/.default");
      assert.ok(longer.refreshAfterTimestamp !== undefined && Math.abs(longer.refreshAfterTimestamp - (before + 3600_500)) < 2000, String(longer.refreshAfterTimestamp));
    } finally {
      await imds.close();
    }
  });

  it("200 HTML page through the credential ⇒ unavailable, snippet quoted, never a hang", async () => {
    const imds = await startFakeImds({ faults: [{ status: 200, headers: { "Content-Type": "text/html" }, body: "<html><head><title>Login</title></head><body>Sign in</body></html>" }] });
    try {
      const err = await rejection(credential(safeEnv(imds.env)).getToken("https://vault.azure.net/.default"));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.equal(err.code, "ERR_INVALID_RESPONSE");
      assert.equal(
        err.message,
        `ManagedIdentityCredential: IMDS at 127.0.0.1:${imds.port} returned a 200 body that is not JSON (text/html): "<html><head><title>Login</title></head><body>Sign in</body></html>". The endpoint is not a working managed-identity endpoint; check the environment variables that point to it.`,
      );
    } finally {
      await imds.close();
    }
  });

  it("an expired token from the endpoint is never handed out", async () => {
    const imds = await startFakeImds({ faults: [json(200, { access_token: fakeToken(), expires_on: String(Math.floor(Date.now() / 1000) - 60) })] });
    try {
      const err = await rejection(credential(safeEnv(imds.env)).getToken("https://vault.azure.net/.default"));
      assert.equal(err.code, "ERR_INVALID_RESPONSE");
      assert.match(err.message, /expires_on \(.*\) is already in the past/);
    } finally {
      await imds.close();
    }
  });
});
