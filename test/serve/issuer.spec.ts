/**
 * The offline issuer: tokens validate against the served JWKS (jose), with
 * Entra-like claims; the key is created 0600 in a 0700 folder and reused;
 * a corrupt key file fails with ERR_KEY_FILE; distinct identities get
 * distinct stable ids; acceptAnyIdentity.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import { startServer, type RunningServer } from "../../src/serve/server";
import { signingKeyPath } from "../../src/serve/issuer/localIssuer";
import { stableUuid } from "../../src/serve/identities";
import { claimsOf, get, IMDS_PATH, IMDS_QUERY, raw, useTempHome, VAULT } from "./support";

const UAMI = "12345678-90ab-cdef-1234-567890abcdef";

async function imdsToken(server: RunningServer, extra = ""): Promise<string> {
  const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}${extra}`, { Metadata: "true" });
  assert.equal(res.status, 200, res.body);
  return (JSON.parse(res.body) as { access_token: string }).access_token;
}

describe("serve: offline issuer", () => {
  const home = useTempHome();
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: home.env, identities: [{ clientId: UAMI, name: "orders-api" }] });
  });
  after(() => server.close());

  it("serves OIDC discovery whose issuer equals the tokens' iss, and a JWKS jose can verify them with", async () => {
    const doc = JSON.parse((await get(server.port, new URL(server.discoveryUrl).pathname)).body);
    assert.equal(doc.issuer, server.issuer);
    assert.equal(doc.issuer, `${server.url}/${server.tenantId}/v2.0`);
    assert.equal(doc.jwks_uri, server.jwksUri);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ["RS256"]);
    const jwks = createRemoteJWKSet(new URL(doc.jwks_uri));
    const token = await imdsToken(server);
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: doc.issuer, audience: VAULT, algorithms: ["RS256"] });
    assert.equal(protectedHeader.typ, "JWT");
    assert.equal(protectedHeader.alg, "RS256");
    assert.ok(protectedHeader.kid);
    assert.equal(payload.tid, server.tenantId);
    assert.equal(payload.appid, server.systemClientId);
    assert.equal(payload.azp, server.systemClientId);
    assert.equal(payload.idtyp, "app");
    assert.equal(payload.ver, "2.0");
    assert.equal(payload.sub, payload.oid);
    assert.equal(payload.exp! - payload.iat!, 86400);
    assert.equal(payload.nbf, payload.iat);
  });

  it("discovery's jwks_uri (and endpoints) follow the Host the client used, so a container that reached host.docker.internal can fetch the keys; issuer stays the tokens' iss", async () => {
    const named = await startServer({ env: home.env, allowHosts: ["api.azmi.test"] });
    try {
      const discovery = async (host: string) => {
        const r = await raw(named.port, [`GET ${new URL(named.discoveryUrl).pathname} HTTP/1.1`, `Host: ${host}`, "Connection: close", "", ""].join("\r\n"));
        assert.equal(r.status, 200, r.body);
        return JSON.parse(r.body) as { issuer: string; jwks_uri: string; token_endpoint: string };
      };
      const direct = await discovery(`127.0.0.1:${named.port}`);
      assert.equal(direct.jwks_uri, named.jwksUri);
      for (const [host, base] of [
        [`API.azmi.test:${named.port}`, `http://api.azmi.test:${named.port}`],
        [`localhost:${named.port}`, `http://localhost:${named.port}`],
      ] as const) {
        const doc = await discovery(host);
        assert.equal(doc.issuer, named.issuer, "the issuer is the tokens' iss, whatever the Host");
        assert.equal(doc.jwks_uri, `${base}/${named.tenantId}/discovery/v2.0/keys`);
        assert.equal(doc.token_endpoint, `${base}/${named.tenantId}/oauth2/v2.0/token`);
      }
      // The keys by the localhost-based URL verify the tokens (the same keys, reached by the client's own name).
      const token = await imdsToken(named);
      await jwtVerify(token, createRemoteJWKSet(new URL((await discovery(`localhost:${named.port}`)).jwks_uri)), { issuer: named.issuer, audience: VAULT });
    } finally {
      await named.close();
    }
    // A server for containers (bound beyond loopback) takes any name under .internal as Host: text that is
    // not a plain host[:port] never becomes a URL (the server's own address stands in). Reached over loopback.
    const wide = await startServer({ env: home.env, host: "0.0.0.0" });
    try {
      const viaContainer = await raw(wide.port, [`GET ${new URL(wide.discoveryUrl).pathname} HTTP/1.1`, `Host: host.docker.internal:${wide.port}`, "Connection: close", "", ""].join("\r\n"));
      assert.equal((JSON.parse(viaContainer.body) as { jwks_uri: string }).jwks_uri, `http://host.docker.internal:${wide.port}/${wide.tenantId}/discovery/v2.0/keys`);
      for (const host of ["attacker.example/#.internal", "evil.example@x.internal", 'a b"c.internal']) {
        const r = await raw(wide.port, [`GET ${new URL(wide.discoveryUrl).pathname} HTTP/1.1`, `Host: ${host}`, "Connection: close", "", ""].join("\r\n"));
        assert.equal(r.status, 200, `${host}: ${r.body}`);
        assert.equal((JSON.parse(r.body) as { jwks_uri: string }).jwks_uri, wide.jwksUri, host);
      }
    } finally {
      await wide.close();
    }
  });

  it("user-assigned identities get their own stable claims", async () => {
    const jwks = createRemoteJWKSet(new URL(server.jwksUri));
    const { payload } = await jwtVerify(await imdsToken(server, `&client_id=${UAMI}`), jwks, { issuer: server.issuer, audience: VAULT });
    assert.equal(payload.appid, UAMI);
    assert.equal(payload.oid, stableUuid(`${server.tenantId}|user|${UAMI}|object`));
    assert.match(payload.xms_mirid as string, /\/userAssignedIdentities\/orders-api$/);
    const system = claimsOf(await imdsToken(server));
    assert.notEqual(system.oid, payload.oid);
  });

  it("keeps the key in azmiHome()/issuer (dir 0700, file 0600) and reuses it on the next start", async () => {
    const file = signingKeyPath(home.dir);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const kid1 = decodeProtectedHeader(await imdsToken(server)).kid;
    const again = await startServer({ env: home.env });
    try {
      const kid2 = decodeProtectedHeader(await imdsToken(again)).kid;
      assert.equal(kid2, kid1);
      // Same tenant, same selector ⇒ same ids on every start.
      assert.equal(again.systemClientId, server.systemClientId);
    } finally {
      await again.close();
    }
  });

  it("tokenLifetimeSec sets exp - iat", async () => {
    const short = await startServer({ env: home.env, tokenLifetimeSec: 3600 });
    try {
      const c = claimsOf(await imdsToken(short));
      assert.equal((c.exp as number) - (c.iat as number), 3600);
    } finally {
      await short.close();
    }
  });

  it("a short tokenLifetimeSec is re-signed at half-life, not on every request after the first second", async () => {
    const short = await startServer({ env: home.env, tokenLifetimeSec: 120 });
    try {
      const first = await imdsToken(short);
      await new Promise((r) => setTimeout(r, 1_200));
      const later = [await imdsToken(short), await imdsToken(short), await imdsToken(short)];
      assert.deepEqual(later, [first, first, first], "the same token until half of its 120 s have passed");
    } finally {
      await short.close();
    }
  });

  it("acceptAnyIdentity mints a distinct, stable identity for an unknown selector", async () => {
    const any = await startServer({ env: home.env, acceptAnyIdentity: true });
    try {
      const a = claimsOf(await imdsToken(any, "&client_id=0bad0bad-0000-0000-0000-000000000001"));
      const b = claimsOf(await imdsToken(any, "&client_id=0bad0bad-0000-0000-0000-000000000002"));
      const byObject = claimsOf(await imdsToken(any, "&object_id=0bad0bad-0000-0000-0000-0000000000ff"));
      assert.equal(a.appid, "0bad0bad-0000-0000-0000-000000000001");
      assert.notEqual(a.oid, b.oid);
      assert.equal(byObject.oid, "0bad0bad-0000-0000-0000-0000000000ff");
      const a2 = claimsOf(await imdsToken(any, "&client_id=0BAD0BAD-0000-0000-0000-000000000001"));
      assert.equal(a2.oid, a.oid);
      const bad = await get(any.port, `${IMDS_PATH}${IMDS_QUERY}&client_id=%3Cscript%3E`, { Metadata: "true" });
      assert.equal(bad.status, 400);
    } finally {
      await any.close();
    }
  });
});

describe("serve: signing key file problems", () => {
  const home = useTempHome();

  it("a corrupt key file fails with ERR_KEY_FILE naming the file and the fix", async () => {
    const file = signingKeyPath(home.dir);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
    await assert.rejects(startServer({ env: home.env }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "ERR_KEY_FILE");
      assert.equal(
        error.message,
        `The azmi serve signing key ${file} is unusable (not a PEM private key). Delete the file and start again; a new key will be generated (tokens signed with the old key stop validating).`,
      );
      return true;
    });
    fs.unlinkSync(file);
    const server = await startServer({ env: home.env });
    await server.close();
    assert.ok(fs.existsSync(file));
  });

  it("a key file readable by others is tightened to 0600 (with a warning); a symlink is refused", async () => {
    const file = signingKeyPath(home.dir);
    const first = await startServer({ env: home.env });
    await first.close();
    fs.chmodSync(file, 0o644);
    const warnings: string[] = [];
    const second = await startServer({ env: home.env, onWarning: (m) => warnings.push(m) });
    await second.close();
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(warnings, [
      `The signing key ${file} was readable by other users (mode 0644); its mode is now 0600. If others could read it, delete it so a new key is generated.`,
    ]);
    const real = `${file}.real`;
    fs.renameSync(file, real);
    fs.symlinkSync(real, file);
    await assert.rejects(startServer({ env: home.env }), {
      code: "ERR_KEY_FILE",
      message: `The azmi serve signing key ${file} is a symbolic link; azmi only uses a regular file it owns. Delete the link (a new key will be generated) or put the key file itself there.`,
    });
    fs.unlinkSync(file);
    fs.unlinkSync(real);
  });

  it("a key that is not RSA ≥ 2048 fails with ERR_KEY_FILE", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const file = signingKeyPath(home.dir);
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    fs.writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    await assert.rejects(startServer({ env: home.env }), { code: "ERR_KEY_FILE", message: /\(a ec key, expected RSA\)/ });
    fs.unlinkSync(file);
  });
});
