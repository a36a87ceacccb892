/**
 * The two caches on `azmi serve`'s hot path, keyed by (identity, resource)
 * and (shape, identity, resource) without joined string keys: the offline
 * issuer reuses a token per pair and re-mints at its refresh time; the body
 * cache answers each pair and shape with its own body, rebuilds when the
 * token changes, and starts over (still answering right) past its bound.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { IdentityRegistry, type ServedIdentity } from "../../src/serve/identities";
import { LocalIssuer, loadOrCreateSigningKey } from "../../src/serve/issuer/localIssuer";
import type { IssuedToken } from "../../src/serve/issuer/types";
import { BodyCache, type TokenShape } from "../../src/serve/respond";
import { useTempHome } from "./support";

const TENANT = "a2a1a2a1-0000-4000-8000-00000000a2a1";
const UAMI = "12345678-90ab-cdef-1234-567890abcdef";
const VAULT = "https://vault.azure.net";
const ARM = "https://management.azure.com/";

function identities(): { system: ServedIdentity; user: ServedIdentity } {
  const registry = new IdentityRegistry({ tenantId: TENANT, identities: [{ clientId: UAMI }] });
  const found = registry.resolve({ clientId: UAMI });
  assert.ok(found.ok);
  return { system: registry.system, user: found.identity };
}

function audienceOf(token: IssuedToken): string {
  return (JSON.parse(Buffer.from(token.accessToken.split(".")[1]!, "base64url").toString()) as { aud: string }).aud;
}

describe("serve: offline issuer token cache", () => {
  const home = useTempHome();

  it("reuses one token per (identity, resource), keeps pairs apart, and re-mints only after the refresh time", async () => {
    let now = Date.UTC(2026, 0, 1);
    const issuer = new LocalIssuer({ key: await loadOrCreateSigningKey(home.dir), tenantId: TENANT, lifetimeSec: 3600, now: () => now });
    issuer.setBaseUrl("http://127.0.0.1:1");
    const { system, user } = identities();
    const a = issuer.peek(system, VAULT);
    // Fresh string objects with the same text hit the same entry.
    assert.equal(issuer.peek({ ...system, key: `sys${"tem"}` }, `${VAULT}`), a);
    const b = issuer.peek(system, ARM);
    const c = issuer.peek(user, VAULT);
    assert.notEqual(b, a);
    assert.notEqual(c, a);
    assert.equal(audienceOf(a), VAULT);
    assert.equal(audienceOf(b), ARM);
    assert.equal(c.clientId, UAMI);
    assert.equal(issuer.peek(user, VAULT), c);
    now += 55 * 60 * 1000 - 1; // 1-hour tokens refresh 5 minutes before expiry
    assert.equal(issuer.peek(system, VAULT), a);
    now += 1;
    const renewed = issuer.peek(system, VAULT);
    assert.notEqual(renewed, a);
    assert.equal(issuer.peek(system, VAULT), renewed);
    assert.notEqual(issuer.peek(system, ARM), b, "ARM's token is as old, so it is re-minted too");
  });
});

describe("serve: token body cache", () => {
  const bodies = new BodyCache();
  let server: http.Server;
  let port = 0;
  /** What the next request answers with. */
  let next: { shape: TokenShape; identity: ServedIdentity; token: IssuedToken };

  before(async () => {
    server = http.createServer((_req, res) => bodies.write(res, next.shape, next.identity, next.token));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    bodies.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function answer(shape: TokenShape, identity: ServedIdentity, token: IssuedToken): Promise<Record<string, string>> {
    next = { shape, identity, token };
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    return (await res.json()) as Record<string, string>;
  }

  const token = (accessToken: string, resource: string, clientId?: string): IssuedToken => ({
    accessToken,
    resource,
    clientId,
    expiresOnTimestamp: Date.now() + 3_600_000,
    notBeforeTimestamp: Date.now() - 1000,
  });

  it("answers each (shape, identity, resource) with its own body and rebuilds when the token changes", async () => {
    const { system, user } = identities();
    const t1 = token("tok-system-vault", VAULT, system.clientId);
    const t2 = token("tok-user-vault", VAULT, UAMI);
    const t3 = token("tok-system-arm", ARM, system.clientId);
    assert.equal((await answer("imds", system, t1)).access_token, "tok-system-vault");
    assert.equal((await answer("imds", user, t2)).access_token, "tok-user-vault");
    assert.equal((await answer("imds", system, t3)).access_token, "tok-system-arm");
    const imds = await answer("imds", system, t1);
    assert.equal(imds.access_token, "tok-system-vault");
    assert.equal(imds.client_id, system.clientId);
    const cloudShell = await answer("cloudShell", system, t1);
    assert.equal(cloudShell.access_token, "tok-system-vault");
    assert.equal(cloudShell.client_id, undefined, "Cloud Shell's body has no client_id, so it is not IMDS's cached body");
    const renewed = token("tok-system-vault-2", VAULT, system.clientId);
    assert.equal((await answer("imds", system, renewed)).access_token, "tok-system-vault-2");
    assert.equal((await answer("imds", user, t2)).access_token, "tok-user-vault");
  });

  it("past 10,000 distinct bodies it starts over and still answers every pair right", async () => {
    const { system } = identities();
    // Fill the cache through its public method without HTTP: a detached response per write.
    for (let i = 0; i < 10_050; i++) {
      const res = new http.ServerResponse(new http.IncomingMessage(new net.Socket()));
      bodies.write(res, "imds", system, token(`tok-${i}`, `api://junk-${i}`));
    }
    assert.equal((await answer("imds", system, token("tok-after", "api://junk-7"))).access_token, "tok-after");
    assert.equal((await answer("imds", system, token("tok-last", "api://junk-10049"))).access_token, "tok-last");
  });
});
