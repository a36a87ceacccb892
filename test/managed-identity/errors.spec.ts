/**
 * Bad input and error mapping: malformed environment, constructor misuse,
 * endpoint answers that are not tokens — each a clear error naming the
 * source and what was wrong, never a crash or a hang, never a secret.
 */
import * as assert from "node:assert/strict";
import { AzureLogger, setLogLevel, getLogLevel, type AzureLogLevel } from "@azure/logger";
import { ManagedIdentityCredential } from "../../src/credentials/managedIdentityCredential";
import { redact } from "../../src/log";
import { getManagedToken } from "../../src/msi";
import { json } from "../fakes/common";
import { startFakeAppService } from "../fakes/appService";
import { startFakeImds } from "../fakes/imds";
import { startFakeMsi2017 } from "../fakes/machineLearning";
import { closedPort, startRawServer } from "../fakes/rawServer";
import { assertNoSecrets, cleanupHomes, credential, rejection, safeEnv } from "./helpers";

const VAULT = "https://vault.azure.net/.default";

describe("managed-identity/errors", () => {
  after(cleanupHomes);

  describe("constructor validation", () => {
    it("two selectors ⇒ ERR_INVALID_ARGUMENT naming both", () => {
      assert.throws(
        () => new ManagedIdentityCredential({ clientId: "a", resourceId: "b" }),
        (e: Error & { code?: string }) =>
          e.code === "ERR_INVALID_ARGUMENT" &&
          e.message === "ManagedIdentityCredential: only one of 'clientId', 'resourceId', or 'objectId' can be provided; got 'clientId' and 'resourceId'. Pass just the one that names the identity.",
      );
      assert.throws(() => new ManagedIdentityCredential("a", { objectId: "b" } as never), /got 'clientId' and 'objectId'/);
    });
    it("an id no request can carry (a control character, half a surrogate pair) ⇒ ERR_INVALID_ARGUMENT naming the option and where, not a bare URIError later", async () => {
      assert.throws(() => new ManagedIdentityCredential({ clientId: "x\udc00" }), {
        code: "ERR_INVALID_ARGUMENT",
        message:
          "ManagedIdentityCredential: 'clientId' contains half of a surrogate pair (U+DC00) at position 1, which no text encoding can send; an identity is named by a GUID (clientId, objectId) or an ARM resource id (resourceId).",
      });
      assert.throws(() => new ManagedIdentityCredential("a\nb"), { code: "ERR_INVALID_ARGUMENT", message: /^ManagedIdentityCredential: 'clientId' contains a control character \(U\+000A\) at position 1;/ });
      assert.throws(() => new ManagedIdentityCredential({ resourceId: "/subscriptions/\ud800" }), { code: "ERR_INVALID_ARGUMENT", message: /'resourceId' contains half of a surrogate pair \(U\+D800\) at position 15/ });
      // A whole pair is text like any other (the endpoint decides whether such an id exists).
      assert.doesNotThrow(() => new ManagedIdentityCredential({ objectId: "id-\ud83d\ude00" }));
      // Through getManagedToken too (the PowerShell bridge's path).
      await assert.rejects(getManagedToken({ resource: "https://vault.azure.net", clientId: "x\udc00", env: { IDENTITY_ENDPOINT: "http://127.0.0.1:9/msi/token", IDENTITY_HEADER: "hdr_secret_value_123" } }), {
        code: "ERR_INVALID_ARGUMENT",
        message: /^clientId contains half of a surrogate pair \(U\+DC00\) at position 1/,
      });
    });

    it("wrong types and ranges ⇒ TypeError / RangeError naming the option", () => {
      assert.throws(() => new ManagedIdentityCredential({ clientId: 5 as never }), { name: "TypeError", message: "ManagedIdentityCredential: 'clientId' must be a string (got number)." });
      assert.throws(() => new ManagedIdentityCredential({ timeBudgetMs: -1 }), { name: "RangeError", message: "ManagedIdentityCredential: 'timeBudgetMs' must be a positive number of milliseconds (got -1)." });
      assert.throws(() => new ManagedIdentityCredential({ probeBudgetMs: Number.NaN }), RangeError);
      assert.throws(() => new ManagedIdentityCredential({ probeBudgetMs: "5" as never }), {
        name: "RangeError",
        message: `ManagedIdentityCredential: 'probeBudgetMs' must be a positive number of milliseconds (got the string "5").`,
      });
      assert.throws(() => new ManagedIdentityCredential({ timeBudgetMs: "\u001b[2J".repeat(20) as never }), {
        message: `ManagedIdentityCredential: 'timeBudgetMs' must be a positive number of milliseconds (got the string "${"\\u001b[2J".repeat(10)}…").`,
      });
      assert.throws(() => new ManagedIdentityCredential({ timeBudgetMs: null as never }), { message: /\(got null\)\.$/ });
      assert.throws(() => new ManagedIdentityCredential({ env: "x" as never }), TypeError);
      assert.throws(() => new ManagedIdentityCredential(42 as never), TypeError);
    });
  });

  describe("malformed environment (before any request)", () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ["IDENTITY_ENDPOINT=not a url", { IDENTITY_ENDPOINT: "not a url", IDENTITY_HEADER: "hdr_secret_value_123" }, 'ManagedIdentityCredential: IDENTITY_ENDPOINT is not an http:// or https:// URL ("not a url"). Set it to the endpoint\'s URL, e.g. http://localhost:4141/MSI/token, or unset it.'],
      ["AZURE_POD_IDENTITY_AUTHORITY_HOST=ftp://x", { AZURE_POD_IDENTITY_AUTHORITY_HOST: "ftp://x" }, 'ManagedIdentityCredential: AZURE_POD_IDENTITY_AUTHORITY_HOST is not an http:// or https:// URL ("ftp://x"). Set it to the endpoint\'s URL, e.g. http://127.0.0.1:4000, or unset it.'],
      ["AZURE_POD_IDENTITY_AUTHORITY_HOST with the token path (every SDK appends it: only 404s, ~20 s of retries)", { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9/metadata/identity/oauth2/token/" }, 'ManagedIdentityCredential: AZURE_POD_IDENTITY_AUTHORITY_HOST ends with the token path /metadata/identity/oauth2/token, which every SDK appends to it ("http://127.0.0.1:9/metadata/identity/oauth2/token/"). Set it to http://127.0.0.1:9, or unset it.'],
      ["… with a user:password and a path prefix: neither the password is quoted nor the prefix dropped", { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://azmi:s3cr3t-pass-word-42@127.0.0.1:9/prefix/metadata/identity/oauth2/token" }, 'ManagedIdentityCredential: AZURE_POD_IDENTITY_AUTHORITY_HOST ends with the token path /metadata/identity/oauth2/token, which every SDK appends to it ("http://127.0.0.1:9/prefix/metadata/identity/oauth2/token"). Set it to http://127.0.0.1:9/prefix, or unset it.'],
      ["… in any case and with repeated slashes", { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://127.0.0.1:9/p/METADATA/Identity/OAuth2/Token//" }, 'ManagedIdentityCredential: AZURE_POD_IDENTITY_AUTHORITY_HOST ends with the token path /metadata/identity/oauth2/token, which every SDK appends to it ("http://127.0.0.1:9/p/METADATA/Identity/OAuth2/Token//"). Set it to http://127.0.0.1:9/p, or unset it.'],
      ["IDENTITY_ENDPOINT malformed, with a user:password: the password is not quoted", { IDENTITY_ENDPOINT: "http://user:p4ssw0rdXYZ@127.0.0.1:99999/x", IDENTITY_HEADER: "hdr_secret_value_123" }, 'ManagedIdentityCredential: IDENTITY_ENDPOINT is not an http:// or https:// URL ("http://***@127.0.0.1:99999/x"). Set it to the endpoint\'s URL, e.g. http://localhost:4141/MSI/token, or unset it.'],
      ["MSI_ENDPOINT malformed, with a user:password and no scheme", { MSI_ENDPOINT: "user:p4ssw0rdXYZ@host:1", MSI_SECRET: "msi_secret_value_123" }, 'ManagedIdentityCredential: MSI_ENDPOINT is not an http:// or https:// URL ("user:***@host:1"). Set it to the endpoint\'s URL, e.g. http://127.0.0.1:41741/MSI/token/, or unset it.'],
      ["IDENTITY_ENDPOINT malformed, with a password holding / and \\", { IDENTITY_ENDPOINT: "http:/user:p4ss/w0rd\\XYZ@127.0.0.1:99999/x", IDENTITY_HEADER: "hdr_secret_value_123" }, 'ManagedIdentityCredential: IDENTITY_ENDPOINT is not an http:// or https:// URL ("http:/***@127.0.0.1:99999/x"). Set it to the endpoint\'s URL, e.g. http://localhost:4141/MSI/token, or unset it.'],
      ["AZURE_POD_IDENTITY_AUTHORITY_HOST malformed, with a user:password", { AZURE_POD_IDENTITY_AUTHORITY_HOST: "http://a:p4ssw0rdXYZ@[zz]:1/" }, 'ManagedIdentityCredential: AZURE_POD_IDENTITY_AUTHORITY_HOST is not an http:// or https:// URL ("http://***@[zz]:1/"). Set it to the endpoint\'s URL, e.g. http://127.0.0.1:4000, or unset it.'],
      ["MSI_ENDPOINT=::", { MSI_ENDPOINT: "::", MSI_SECRET: "msi_secret_value_123" }, 'ManagedIdentityCredential: MSI_ENDPOINT is not an http:// or https:// URL ("::"). Set it to the endpoint\'s URL, e.g. http://127.0.0.1:41741/MSI/token/, or unset it.'],
      ["IDENTITY_SERVER_THUMBPRINT=xyz", { IDENTITY_ENDPOINT: "https://127.0.0.1:1/t", IDENTITY_HEADER: "hdr_secret_value_123", IDENTITY_SERVER_THUMBPRINT: "xyz" }, "ManagedIdentityCredential: IDENTITY_SERVER_THUMBPRINT is not a SHA-1 thumbprint (40 hex digits) (\"xyz\"). Set it to the Service Fabric endpoint certificate's thumbprint, or unset it."],
    ];
    for (const [what, vars, message] of [
      ["IDENTITY_HEADER with a trailing CR", { IDENTITY_ENDPOINT: "http://127.0.0.1:9/MSI/token", IDENTITY_HEADER: "hdr_secret_value_123\r" }, "ManagedIdentityCredential: IDENTITY_HEADER ends with a line break (an env file with CRLF line ends?), which an HTTP header cannot carry. Set it to the exact value the platform provides."],
      ["IDENTITY_HEADER with non-ASCII", { IDENTITY_ENDPOINT: "http://127.0.0.1:9/MSI/token", IDENTITY_HEADER: "hdr_secret_value_123\u00e9" }, "ManagedIdentityCredential: IDENTITY_HEADER contains a non-ASCII character, which an HTTP header cannot carry. Set it to the exact value the platform provides."],
      ["MSI_SECRET with a control character", { MSI_ENDPOINT: "http://127.0.0.1:9/MSI/token", MSI_SECRET: "msi_secret_value_123\u0000x" }, "ManagedIdentityCredential: MSI_SECRET contains a control character, which an HTTP header cannot carry. Set it to the exact value the platform provides."],
    ] as const) {
      cases.push([what, vars as Record<string, string>, message]);
    }
    for (const [name, vars, message] of cases) {
      it(name, async () => {
        const c = credential(safeEnv(vars));
        const err = await rejection(c.getToken(VAULT));
        assert.equal(err.name, "CredentialUnavailableError");
        assert.equal(err.code, "ERR_INVALID_ENVIRONMENT");
        assert.equal(err.message, message);
        assert.match(c.describe(), /^no usable managed-identity source \(/);
        assertNoSecrets(err, ["hdr_secret_value_123", "msi_secret_value_123", "p4ssw0rdXYZ", "w0rd"]);
      });
    }
  });

  it("refused endpoint ⇒ unavailable with the transport code, address and timeout", async () => {
    const port = await closedPort();
    const err = await rejection(credential(safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` })).getToken(VAULT));
    assert.equal(err.name, "CredentialUnavailableError");
    assert.equal(err.code, "ECONNREFUSED");
    assert.match(err.message, new RegExp(`^ManagedIdentityCredential: IMDS at 127\\.0\\.0\\.1:${port} could not be reached \\(connect ECONNREFUSED after \\d+ ms, timeout \\d+ ms\\)\\.`));
  });

  it("IMDS unreachable while half of another source's variables is set: the message says that source was not used, and no value", async () => {
    const port = await closedPort();
    const imds = { AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` };
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ IDENTITY_ENDPOINT: "http://127.0.0.1:9/msi/token" }, /Note: IDENTITY_ENDPOINT is set without IDENTITY_HEADER, so App Service was not used\.$/],
      [{ IDENTITY_HEADER: "hdr_secret_value_123" }, /Note: IDENTITY_HEADER is set without IDENTITY_ENDPOINT, so App Service was not used\.$/],
      [{ MSI_SECRET: "msi_secret_value_123" }, /Note: MSI_SECRET is set without MSI_ENDPOINT, so Machine Learning \/ App Service 2017 was not used\.$/],
    ];
    for (const [vars, note] of cases) {
      const err = await rejection(credential(safeEnv({ ...imds, ...vars })).getToken(VAULT));
      assert.equal(err.name, "CredentialUnavailableError");
      assert.match(err.message, /IMDS at 127\.0\.0\.1:\d+ could not be reached/);
      assert.match(err.message, note);
      assertNoSecrets(err, ["hdr_secret_value_123", "msi_secret_value_123"]);
    }
    const plain = await rejection(credential(safeEnv(imds)).getToken(VAULT));
    assert.doesNotMatch(plain.message, /Note:/);
  });

  for (const what of ["network", "host"]) {
    it(`Docker Desktop's 403 '…unreachable ${what}' on the token request ⇒ unavailable ERR_MI_UNREACHABLE (spec §6.1)`, async () => {
      const imds = await startFakeImds({ faults: [{ status: 403, body: `A socket operation was attempted to an unreachable ${what}.` }] });
      try {
        const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT));
        assert.equal(err.name, "CredentialUnavailableError");
        assert.equal(err.code, "ERR_MI_UNREACHABLE");
        assert.equal(imds.tokenRequests().length, 1);
      } finally {
        await imds.close();
      }
    });
  }

  it("a 403 that says why (azmi serve --issuer chain refusing another user's process) gets no stale-secret advice", async () => {
    const server = await startRawServer(() => ({
      status: 403,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ error: "forbidden", error_description: "azmi serve --issuer chain forwards its user's own tokens: it answers only that user's processes on this machine" }),
    }));
    try {
      const err = await rejection(credential(safeEnv({ IDENTITY_ENDPOINT: `${server.url}/msi/token`, IDENTITY_HEADER: "hdr_secret_value_123" })).getToken(VAULT));
      assert.equal(err.name, "AuthenticationError");
      assert.match(err.message, /refused the token request with 403: forbidden "azmi serve --issuer chain forwards its user's own tokens.*\. Check the identity selection and the endpoint's configuration\.$/);
      assert.ok(!err.message.includes("IDENTITY_HEADER"), err.message);
    } finally {
      await server.close();
    }
  });

  it("App Service 401 JSON ⇒ AuthenticationError (chain stops); header value never in the error", async () => {
    const app = await startFakeAppService();
    try {
      const env = safeEnv({ ...app.env, IDENTITY_HEADER: "hdr_wrong_value_0123456789" });
      const err = await rejection(credential(env).getToken(VAULT));
      assert.equal(err.name, "AuthenticationError");
      assert.equal(err.code, "ERR_AUTHENTICATION_FAILED");
      assert.equal(err.statusCode, 401);
      assert.equal(
        err.message,
        `ManagedIdentityCredential: App Service at 127.0.0.1:${app.port} refused the token request with 401: "The X-IDENTITY-HEADER header is missing or invalid.". Check that IDENTITY_HEADER holds the secret of the endpoint running now. If it is azmi serve, each start makes a new secret, so load its variables again (eval "$(azmi env)").`,
      );
      assertNoSecrets(err, ["hdr_wrong_value_0123456789", app.secret]);
      // The CLI, doctor and log lines pass messages through redact(): the advice must come out whole.
      assert.equal(redact(err.message), err.message);
    } finally {
      await app.close();
    }
  });

  it("App Service 400 'Unable to load the proper Managed Identity' ⇒ AuthenticationError", async () => {
    const app = await startFakeAppService({ faults: [json(400, { statusCode: 400, message: "Unable to load the proper Managed Identity.", correlationId: "x" })] });
    try {
      const err = await rejection(credential(safeEnv(app.env)).getToken(VAULT));
      assert.equal(err.name, "AuthenticationError");
      assert.match(err.message, /refused the token request with 400: "Unable to load the proper Managed Identity\."\. Check the identity selection: the system-assigned identity is not assigned to this resource\. Assign it, or pass the clientId\/objectId\/resourceId of an identity that is\.$/);
    } finally {
      await app.close();
    }
  });

  it("App Service on loopback, unknown client id ⇒ the identity advice and azmi serve's --identity hint, as on IMDS", async () => {
    const server = await startRawServer(() => ({
      status: 400,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ statusCode: 400, message: "Identity not found", correlationId: "x" }),
    }));
    try {
      const err = await rejection(
        credential(safeEnv({ IDENTITY_ENDPOINT: `${server.url}/msi/token`, IDENTITY_HEADER: "hdr_secret_value_123" }), { clientId: "abc" }).getToken(VAULT),
      );
      assert.equal(err.name, "AuthenticationError");
      assert.match(err.message, /refused the token request with 400: "Identity not found"\. Check the identity selection: clientId abc is not assigned to this resource\. .* If it is azmi serve, start it with --identity abc \(or --accept-any-identity\)\.$/);
      assert.equal(redact(err.message), err.message);
    } finally {
      await server.close();
    }
  });

  it("an error body echoing the secret is redacted in the message", async () => {
    const secret = "msi_echoed_secret_0123456789";
    const ml = await startFakeMsi2017({ secret, faults: [{ status: 403, body: `<html>bad secret ${secret}</html>` }] });
    try {
      const err = await rejection(credential(safeEnv(ml.env)).getToken(VAULT));
      assert.equal(err.code, "ERR_MI_ENDPOINT_ERROR");
      assert.match(err.message, /answered 403 with a body that is not an identity endpoint's JSON error \("<html>bad secret \[REDACTED\]<\/html>"\)/);
      assertNoSecrets(err, [secret]);
    } finally {
      await ml.close();
    }
  });

  it("logs (AZURE_LOG_LEVEL=verbose) never contain a token or secret", async () => {
    const lines: string[] = [];
    const savedLog = AzureLogger.log;
    const savedLevel = getLogLevel();
    AzureLogger.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    setLogLevel("verbose");
    const app = await startFakeAppService({ faults: [json(500, { statusCode: 500, message: "x" })] });
    try {
      const c = credential(safeEnv(app.env));
      const t = await c.getToken(VAULT);
      await rejection(credential(safeEnv({ ...app.env, IDENTITY_HEADER: "hdr_wrong_value_0123456789" })).getToken(VAULT));
      const all = lines.join("\n");
      assert.match(all, /ManagedIdentityCredential => getToken\(\) => selected App Service at 127\.0\.0\.1:\d+/);
      assert.match(all, /answered 500; retry 1 in \d+ ms/);
      for (const s of [t.token, app.secret, "hdr_wrong_value_0123456789"]) assert.ok(!all.includes(s), "secret in logs");
    } finally {
      AzureLogger.log = savedLog;
      setLogLevel(savedLevel as AzureLogLevel | undefined);
      await app.close();
    }
  });

  it("tokens issued never appear in any error of a failed flow", async () => {
    const imds = await startFakeImds({ faults: [json(200, { access_token: "tok_" + "a".repeat(40), expires_on: "garbage" })] });
    try {
      const err = await rejection(credential(safeEnv(imds.env)).getToken(VAULT));
      assert.equal(err.code, "ERR_INVALID_RESPONSE");
      assertNoSecrets(err, ["tok_" + "a".repeat(40)]);
    } finally {
      await imds.close();
    }
  });
});
