/**
 * Endpoints that echo what they were sent (the identity header, an Arc key, a
 * token) into the places azmi quotes in its errors: a quote cut to its
 * length, a Content-Type parameter, a successful answer that is not JSON, an
 * Arc identity echo, and an authority's error kept as `cause`. No part of a
 * secret may reach an error's message, stack, `cause` chain, JSON or
 * `util.inspect` (each case failed before its fix).
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { inspect } from "node:util";
import { mapDelegatedError } from "../../src/credentials/delegated";
import { registerSecret } from "../../src/log";
import { snippet } from "../../src/managed-identity/response";
import { startFakeArc } from "../fakes/azureArc";
import { cleanupHomes, credential, rejection, safeEnv } from "./helpers";

const VAULT = "https://vault.azure.net/.default";

/** Every 12-character piece of `secret`: a secret cut anywhere still shows one. */
function pieces(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i += 6) out.push(secret.slice(i, i + 12));
  out.push(secret.slice(-12));
  return out;
}

/** Everything an error shows: message, stack, JSON, util.inspect, down its cause chain. */
function shown(err: unknown): string {
  const texts = [inspect(err, { depth: 10 })];
  for (let e: unknown = err, n = 0; e && typeof e === "object" && n < 10; e = (e as { cause?: unknown }).cause, n++) {
    texts.push(String(e), String((e as Error).stack), (e as Error).message ?? "");
    try {
      texts.push(JSON.stringify(e));
    } catch {}
  }
  return texts.join("\n");
}

function assertNoPiece(err: unknown, secret: string): void {
  const all = shown(err);
  for (const piece of pieces(secret)) assert.ok(!all.includes(piece), `a piece of the secret (${piece.slice(0, 4)}…) is in the error:\n${all.slice(0, 600)}`);
}

/** An App Service endpoint that answers every request with `answer(headerItWasSent)`. */
async function echoingAppService(answer: (header: string) => { status: number; type: string; body: string }): Promise<{ env: NodeJS.ProcessEnv; header: string; close(): Promise<void> }> {
  const header = `echo-header-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  const server = http.createServer((req, res) => {
    const a = answer(String(req.headers["x-identity-header"] ?? ""));
    res.writeHead(a.status, { "content-type": a.type });
    res.end(a.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    env: safeEnv({ IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: header }),
    header,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("managed-identity: endpoints that echo secrets into what azmi quotes", () => {
  after(cleanupHomes);

  it("snippet redacts before it cuts: a registered secret or a JWT across the cut is never shown in part, and the cut never splits [REDACTED]", () => {
    const secret = `snippet-secret-${Math.random().toString(36).slice(2)}-0123456789abcdef`;
    registerSecret(secret);
    for (let pad = 60; pad <= 125; pad++) {
      const quoted = snippet(`${"y".repeat(pad)}${secret} tail`);
      for (const piece of pieces(secret)) assert.ok(!quoted.includes(piece), `pad ${pad}: ${quoted}`);
      assert.ok(!/\[RED(?!ACTED\])/.test(quoted), `pad ${pad}: a cut marker: ${quoted}`);
    }
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3ZhdWx0LmF6dXJlLm5ldCJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
    for (let pad = 80; pad <= 125; pad++) assert.ok(!snippet(`${"y".repeat(pad)}${jwt}`).includes("eyJhbGciOiJSUzI1"), `pad ${pad}`);
  });

  it("a 401 whose error_description echoes the identity header after padding that puts it across the quote's cut", async () => {
    for (const pad of [70, 78, 100, 115]) {
      const fake = await echoingAppService((header) => ({
        status: 401,
        type: "application/json",
        body: JSON.stringify({ error: "invalid_request", error_description: `${"y".repeat(pad)}${header} tail` }),
      }));
      try {
        const err = await rejection(credential(fake.env).getToken(VAULT));
        assert.match(err.message, /401/);
        assertNoPiece(err, fake.header);
      } finally {
        await fake.close();
      }
    }
  });

  it("a 200 that is not JSON: its Content-Type's parameters are not quoted, only the media type", async () => {
    const fake = await echoingAppService((header) => ({ status: 200, type: `text/html; debug=${header}`, body: "<html>gateway</html>" }));
    try {
      const err = await rejection(credential(fake.env).getToken(VAULT));
      assert.match(err.message, /returned a 200 body that is not JSON \(text\/html\): "<html>gateway<\/html>"/);
      assertNoPiece(err, fake.header);
    } finally {
      await fake.close();
    }
  });

  it("a 200 that is not JSON: a body in one word (a bare token, say) is not quoted; a Python-style object's token field is redacted", async () => {
    const opaque = `OPAQUE${Math.random().toString(36).slice(2)}TOKENVALUE${Math.random().toString(36).slice(2)}`;
    for (const body of [opaque, `{'access_token': '${opaque}', 'expires_in': 3600}`]) {
      const fake = await echoingAppService(() => ({ status: 200, type: "text/plain", body }));
      try {
        const err = await rejection(credential(fake.env).getToken(VAULT));
        assert.match(err.message, /returned a 200 body that is not JSON \(text\/plain\)/);
        assertNoPiece(err, opaque);
      } finally {
        await fake.close();
      }
    }
  });

  it("Azure Arc: an agent that echoes the key it was sent as the client id is not quoted", async () => {
    const key = `arc-key-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
    const arc = await startFakeArc({ key, echo: key });
    try {
      const err = await rejection(credential(safeEnv(arc.env), { clientId: "11111111-2222-3333-4444-555555555555" }).getToken(VAULT));
      assert.match(err.message, /did not confirm the requested user-assigned identity \(client_id echoed as another value \(\d+ characters\)\)/);
      assertNoPiece(err, key);
    } finally {
      await arc.close();
    }
  });

  it("an authority's error (from @azure/identity) kept as cause is a redacted copy: no errorResponse, no stack quoting it", () => {
    const secret = `client-secret-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
    registerSecret(secret);
    // The real class, as @azure/identity throws it for an authority's 401.
    const { AuthenticationError } = require("@azure/identity") as typeof import("@azure/identity");
    const upstream = new AuthenticationError(401, { error: "invalid_client", error_description: `AADSTS7000215: Invalid client secret provided. Got: ${secret}` });
    assert.ok(shown(upstream).includes(secret), "the upstream error quotes it (what the test guards against)");
    const mapped = mapDelegatedError("EnvironmentCredential", upstream);
    assert.equal((mapped as { cause?: { name?: string } }).cause?.name, "AuthenticationError");
    assert.equal((mapped as { cause?: { statusCode?: number } }).cause?.statusCode, 401);
    assertNoPiece(mapped, secret);
    const other = mapDelegatedError("WorkloadIdentityCredential", new Error(`network error while posting client_assertion=${secret}`));
    assertNoPiece(other, secret);
  });
});
