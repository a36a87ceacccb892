import assert from "node:assert/strict";
import { AzureLogger, setLogLevel, getLogLevel } from "@azure/logger";
import { credentialLogger, redact, registerSecret, registeredSecretCount } from "../src/log";

describe("log", () => {
  it("redacts registered secrets wherever they appear", () => {
    registerSecret("s3cr3t-identity-header-value");
    assert.equal(redact("header=s3cr3t-identity-header-value!"), "header=[REDACTED]!");
  });

  it("ignores values too short to be secrets (they would redact ordinary words)", () => {
    registerSecret("abc");
    assert.equal(redact("abc"), "abc");
  });

  it("redacts JWT-shaped text, bearer headers and secret-named fields without registration", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl";
    assert.equal(redact(`token ${jwt} end`), "token [REDACTED] end");
    assert.equal(redact("Authorization: Bearer abc.def"), "Authorization: Bearer [REDACTED]");
    assert.equal(redact('{"access_token":"opaque-value","x":1}'), '{"access_token":"[REDACTED]","x":1}');
    assert.equal(redact("client_secret=hunter2hunter2&scope=x"), "client_secret=[REDACTED]&scope=x");
  });

  it("the cheap pre-checks never skip a match: upper and mixed case, every field name, quoted forms", () => {
    assert.equal(redact("AUTHORIZATION: BEARER abc.def"), "AUTHORIZATION: BEARER [REDACTED]");
    assert.equal(redact("authorization: bEaReR xyz"), "authorization: bEaReR [REDACTED]");
    for (const field of ["access_token", "REFRESH_TOKEN", "Client_Secret", "secret", "PASSWORD", "client_assertion", "X-Identity-Header", "IDENTITY_HEADER"]) {
      assert.equal(redact(`${field}=v4lue-1`), `${field}=[REDACTED]`, field);
      assert.equal(redact(`{"${field}": "v4lue-2"}`), `{"${field}": "[REDACTED]"}`, field);
    }
    // Text with none of the trigger words or shapes is returned unchanged.
    const plain = "EnvironmentCredential: AZURE_TENANT_ID/AZURE_CLIENT_ID not set";
    assert.equal(redact(plain), plain);
  });

  it("the field pre-check agrees with the pattern itself on spacing, quotes, Unicode spaces and look-alikes", () => {
    // The pattern as redact() applies it, run unconditionally: the reference the pre-check must never undercut.
    const pattern = /(["']?(?:access_token|refresh_token|client_secret|secret|password|client_assertion|x-identity-header|identity_header)["']?\s*[:=]\s*["']?)([^"'&\s,}]+)/gi;
    const reference = (text: string) => text.replace(pattern, "$1[REDACTED]");
    const spaces = ["", " ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\ufeff", "\u2028", "  \t "];
    const fields = ["secret", "Client_Secret", "password", "access_token", "x-identity-header", "identity_header", "identity-header", "TOKEN", "AZURE_FEDERATED_TOKEN_FILE"];
    let cases = 0;
    for (const field of fields) {
      for (const quote of ["", '"', "'"]) {
        for (const before of spaces) {
          for (const op of [":", "=", " is", ";"]) {
            const text = `WorkloadIdentityCredential is unavailable: ${quote}${field}${quote}${before}${op}${before}v4lue-${cases} next`;
            assert.equal(redact(text), reference(text), JSON.stringify(text));
            cases++;
          }
        }
      }
    }
    // The reasons a chain walk produces hold field-like words but no field: unchanged, no pattern needed.
    for (const reason of [
      "WorkloadIdentityCredential is unavailable: AZURE_FEDERATED_TOKEN_FILE is not set.",
      "EnvironmentCredential is unavailable: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set.",
      "ManagedIdentityCredential is unavailable: no IDENTITY_HEADER",
    ]) {
      assert.equal(redact(reason), reason);
    }
    assert.ok(cases > 1000);
  });

  it("writes `Credential => method() => message` lines, redacted, only when a level is set", () => {
    const lines: string[] = [];
    const original = AzureLogger.log;
    const level = getLogLevel();
    AzureLogger.log = (...args: unknown[]) => lines.push(args.join(" "));
    try {
      registerSecret("another-secret-value-42");
      setLogLevel("verbose");
      credentialLogger("ManagedIdentityCredential").info("getToken", "sent another-secret-value-42");
      assert.equal(lines.length, 1);
      assert.match(lines[0], /azmi:info ManagedIdentityCredential => getToken\(\) => sent \[REDACTED\]/);
    } finally {
      AzureLogger.log = original;
      setLogLevel(level);
    }
  });
});

describe("log when off", () => {
  it("formats nothing when the level is off (the message callback is never stringified)", () => {
    const level = getLogLevel();
    setLogLevel(undefined);
    let touched = false;
    const message = { toString: () => ((touched = true), "x") } as unknown as string;
    try {
      credentialLogger("X").info("m", message);
      assert.equal(touched, false);
    } finally {
      setLogLevel(level);
    }
  });
});

describe("log loading", () => {
  it("does not load @azure/logger when logging is off and nobody else loaded it (fresh process)", () => {
    const { execFileSync } = require("node:child_process") as typeof import("node:child_process");
    const script = `
      const log = require(${JSON.stringify(require.resolve("../src/log"))});
      log.credentialLogger("X").info("m", "hello");
      log.redact("x");
      process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes("@azure/logger"))));`;
    const env = { ...process.env };
    delete env.AZURE_LOG_LEVEL;
    delete env.DEBUG;
    assert.equal(execFileSync(process.execPath, ["-e", script], { env, encoding: "utf8" }), "false");
    const on = execFileSync(process.execPath, ["-e", script], { env: { ...env, AZURE_LOG_LEVEL: "info" }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(on, "true");
  });
});

describe("log: which values registerSecret keeps", () => {
  // Once the set is large, exactly the values JWT_PATTERN matches whole are dropped (redact removes them by shape).
  const WHOLE_JWT = /^eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*$/;
  const cases = [
    "eyJhbGci.eyJzdWIi.c2ln",
    "eyJhbGci.eyJzdWIi.",
    "eyJhbGc.eyJz.x",
    "eyJhbG.eyJzdWIi.sig",
    "eyJhbGci.eyJ.sig",
    "eyJhbGci..sig",
    "eyJhbGci.eyJzdWIi",
    "eyJhbGci.eyJzdWIi.c2ln.more",
    "eyJhbGci.eyJzdWIi.c2l+",
    "eyJhbGci.eyJzdWIi.c2l=",
    "eyJhbG i.eyJzdWIi.c2ln",
    " eyJhbGci.eyJzdWIi.c2ln",
    "xeyJhbGci.eyJzdWIi.c2ln",
    "EYJhbGci.eyJzdWIi.c2ln",
    "opaque-secret-value",
  ];
  it("drops whole JWTs once the set is large (a server hands out a token per resource), and keeps every other secret", () => {
    for (const value of cases) registerSecret(value);
    for (let i = 0; i < 1_001; i++) registerSecret(`eyJhbGci.eyJ${String(i).padStart(5, "0")}.c2ln`);
    assert.ok(registeredSecretCount() < 1_000, `${registeredSecretCount()} values kept`);
    for (const value of cases.filter((v) => !WHOLE_JWT.test(v))) {
      assert.ok(!redact(`before ${value} after`).includes(value), `no longer redacted: ${value}`);
    }
  });
});
