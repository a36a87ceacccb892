/**
 * The IMDS dialect against raw requests: checklist items 5–15 and 74.
 */
import * as assert from "node:assert/strict";
import { startServer, type RunningServer } from "../../src/serve/server";
import { claimsOf, get, IMDS_PATH, IMDS_QUERY, raw, useTempHome, VAULT } from "./support";

const UAMI = "11111111-2222-3333-4444-555555555555";

describe("serve: IMDS dialect", () => {
  const home = useTempHome();
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: home.env, identities: [{ clientId: UAMI, name: "app-one" }] });
  });
  after(() => server.close());

  it("5/11: GET with api-version, resource and Metadata: true returns 200 with every field as a string, expires_in before expires_on", async () => {
    const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ["access_token", "refresh_token", "expires_in", "expires_on", "not_before", "resource", "token_type", "client_id"]);
    for (const v of Object.values(body)) assert.equal(typeof v, "string");
    assert.equal(body.refresh_token, "");
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.resource, VAULT);
    assert.equal(body.client_id, server.systemClientId);
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = Number(body.expires_in);
    assert.ok(expiresIn > 86000 && expiresIn <= 86400, `expires_in ${expiresIn}`);
    assert.ok(Math.abs(Number(body.expires_on) - (now + expiresIn)) <= 2);
    assert.ok(Number(body.not_before) <= now + 1);
    assert.ok(res.body.indexOf('"expires_in"') < res.body.indexOf('"expires_on"'));
  });

  it("6: a request lacking Metadata gets IMDS's exact 400 (what every SDK's probe expects)", async () => {
    const res = await get(server.port, IMDS_PATH);
    assert.equal(res.status, 400);
    assert.equal(res.body, '{"error":"bad_request_102","error_description":"Required metadata header not specified"}');
    const withQuery = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`);
    assert.equal(withQuery.status, 400);
    assert.equal(withQuery.body, res.body);
  });

  it("7: Metadata: True (not lower-case) counts as missing; a doubled header too", async () => {
    for (const value of ["True", "TRUE", "1", "true "]) {
      const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: value });
      assert.equal(res.status, value === "true " ? 200 : 400, `Metadata: ${JSON.stringify(value)}`);
    }
    const doubled = await raw(
      server.port,
      `GET ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nMetadata: true\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(doubled.status, 400);
    assert.match(doubled.body, /bad_request_102/);
  });

  it("8: X-Forwarded-For is refused", async () => {
    const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true", "X-Forwarded-For": "10.0.0.1" });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), {
      error: "invalid_request",
      error_description: "Requests with an X-Forwarded-For header are not accepted",
    });
  });

  it("9: a duplicated query parameter is refused (also with different case)", async () => {
    const dup = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&resource=https%3A%2F%2Fevil`, { Metadata: "true" });
    assert.equal(dup.status, 400);
    assert.deepEqual(JSON.parse(dup.body), { error: "invalid_request", error_description: "Duplicate query parameter 'resource'" });
    const dupCase = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&API-VERSION=2018-02-01`, { Metadata: "true" });
    assert.equal(dupCase.status, 400);
  });

  it("10: the trailing-slash path is served too", async () => {
    const res = await get(server.port, `${IMDS_PATH}/${IMDS_QUERY}`, { Metadata: "true" });
    assert.equal(res.status, 200);
  });

  it("resource may arrive unencoded (Python 1.13) and any parameter order works", async () => {
    const res = await get(server.port, `${IMDS_PATH}?resource=${VAULT}&api-version=2018-02-01`, { Metadata: "true" });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).resource, VAULT);
  });

  it("missing api-version / resource and malformed encoding get 400 invalid_request", async () => {
    const noVersion = await get(server.port, `${IMDS_PATH}?resource=x`, { Metadata: "true" });
    assert.equal(noVersion.status, 400);
    assert.deepEqual(JSON.parse(noVersion.body), { error: "invalid_request", error_description: "Required query parameter 'api-version' not specified" });
    const noResource = await get(server.port, `${IMDS_PATH}?api-version=2018-02-01`, { Metadata: "true" });
    assert.equal(noResource.status, 400);
    assert.deepEqual(JSON.parse(noResource.body), { error: "invalid_request", error_description: "Required audience parameter not specified" });
    const bad = await get(server.port, `${IMDS_PATH}?api-version=2018-02-01&resource=%E0%A4%A`, { Metadata: "true" });
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { error: "invalid_request", error_description: "Malformed query parameter 'resource'" });
    const old = await get(server.port, `${IMDS_PATH}?api-version=2017-01-01&resource=x`, { Metadata: "true" });
    assert.equal(old.status, 400);
    // Date-shaped is not enough: no month 13, no 30 February.
    for (const version of ["2099-13-45", "2021-02-30", "2018-2-01"]) {
      const wrong = await get(server.port, `${IMDS_PATH}?api-version=${version}&resource=x`, { Metadata: "true" });
      assert.equal(wrong.status, 400, version);
    }
    const leap = await get(server.port, `${IMDS_PATH}?api-version=2020-02-29&resource=x`, { Metadata: "true" });
    assert.equal(leap.status, 200, leap.body);
  });

  it("12: an unknown identity gets 400 Identity not found", async () => {
    for (const sel of ["client_id=99999999-0000-0000-0000-000000000000", "object_id=99999999-0000-0000-0000-000000000000", "msi_res_id=%2Fsubscriptions%2Fx%2Fnope"]) {
      const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&${sel}`, { Metadata: "true" });
      assert.equal(res.status, 400, sel);
      assert.equal(res.body, '{"error":"invalid_request","error_description":"Identity not found"}');
    }
  });

  it("13: client_id, object_id and msi_res_id (and mi_res_id, msi-res-id) select the same user-assigned identity", async () => {
    const byClient = JSON.parse((await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&client_id=${UAMI.toUpperCase()}`, { Metadata: "true" })).body);
    const claims = claimsOf(byClient.access_token);
    assert.equal(claims.appid, UAMI);
    assert.equal(byClient.client_id, UAMI);
    const oid = claims.oid as string;
    const rid = claims.xms_mirid as string;
    assert.match(rid, /userAssignedIdentities\/app-one$/);
    for (const sel of [`object_id=${oid}`, `msi_res_id=${encodeURIComponent(rid)}`, `mi_res_id=${encodeURIComponent(rid)}`, `msi-res-id=${encodeURIComponent(rid)}`]) {
      const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&${sel}`, { Metadata: "true" });
      assert.equal(res.status, 200, sel);
      assert.equal(claimsOf(JSON.parse(res.body).access_token).appid, UAMI, sel);
    }
    const system = claimsOf(JSON.parse((await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" })).body).access_token);
    assert.notEqual(system.oid, oid);
    const two = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&client_id=${UAMI}&object_id=${oid}`, { Metadata: "true" });
    assert.equal(two.status, 400);
  });

  it("13: two selectors in any spellings (principal_id, mi_res_id, msi-res-id too) get 400, never a silent pick of one", async () => {
    const byClient = JSON.parse((await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&client_id=${UAMI}`, { Metadata: "true" })).body);
    const claims = claimsOf(byClient.access_token);
    const rid = encodeURIComponent(claims.xms_mirid as string);
    const spellings = [`client_id=${UAMI}`, `object_id=${claims.oid}`, `principal_id=${claims.oid}`, `msi_res_id=${rid}`, `mi_res_id=${rid}`, `msi-res-id=${rid}`];
    for (let i = 0; i < spellings.length; i++) {
      for (let j = i + 1; j < spellings.length; j++) {
        const res = await get(server.port, `${IMDS_PATH}${IMDS_QUERY}&${spellings[i]}&${spellings[j]}`, { Metadata: "true" });
        assert.equal(res.status, 400, `${spellings[i]} + ${spellings[j]}`);
        assert.equal(res.body, '{"error":"invalid_request","error_description":"Only one of client_id, object_id or msi_res_id may be specified"}');
      }
    }
  });

  it("15: a non-GET verb gets 405 with Allow: GET", async () => {
    for (const method of ["POST", "PUT", "DELETE", "HEAD"]) {
      const res = await raw(server.port, `${method} ${IMDS_PATH}${IMDS_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 405, method);
      assert.equal(res.headers["allow"], "GET");
    }
  });

  it("the same (identity, resource) gets the same cached token; another resource another one", async () => {
    const a = JSON.parse((await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" })).body);
    const b = JSON.parse((await get(server.port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" })).body);
    const c = JSON.parse((await get(server.port, `${IMDS_PATH}?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com`, { Metadata: "true" })).body);
    assert.equal(a.access_token, b.access_token);
    assert.notEqual(a.access_token, c.access_token);
    assert.equal(claimsOf(c.access_token).aud, "https://storage.azure.com");
  });
});

describe("serve: IMDS rate limit (14)", () => {
  const home = useTempHome();
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: home.env, rateLimit: true });
  });
  after(() => server.close());

  /**
   * `n` parallel IMDS requests. The server runs in this process, so every arrival lies between `t0`
   * (just before the first is sent) and its own answer's `at` (performance.now()).
   */
  async function burst(port: number, n: number) {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: n }, () => get(port, `${IMDS_PATH}${IMDS_QUERY}`, { Metadata: "true" }).then((r) => ({ ...r, at: performance.now() }))),
    );
    return { t0, results, statuses: results.map((r) => r.status) };
  }

  /** Bursts measured to fit the limiter's window are asserted exactly; a loaded machine gets a few tries. */
  const ATTEMPTS = 3;

  it("more than 20 requests in a second get 429", async () => {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const limited = await startServer({ env: home.env, rateLimit: { perSecond: 20, concurrent: 1000 } });
      try {
        const { t0, results, statuses } = await burst(limited.port, 25);
        const ok = statuses.filter((s) => s === 200).length;
        const tooMany = results.filter((r) => r.status === 429);
        const spread = Math.max(...results.map((r) => r.at)) - t0;
        const all = `statuses ${statuses.join(",")} within ${spread.toFixed(0)} ms`;
        for (const r of tooMany) assert.equal(JSON.parse(r.body).error, "too_many_requests");
        if (spread < 990) {
          // Every arrival within one rolling second: exactly 20 admitted, the rest refused.
          assert.equal(ok, 20, all);
          assert.equal(tooMany.length, 5, all);
          return;
        }
        // Spread over more than the window (loaded machine): the first 20 are admitted, the rest 200 or 429.
        assert.ok(ok >= 20 && ok + tooMany.length === 25, all);
      } finally {
        await limited.close();
      }
    }
  });

  it("more than 5 concurrent requests get 429", async () => {
    const delayMs = 1000;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const limited = await startServer({ env: home.env, rateLimit: { perSecond: 1000, concurrent: 5 }, faults: { sequence: Array(6).fill("delay"), delayMs } });
      try {
        const { t0, results, statuses } = await burst(limited.port, 8);
        const ok = statuses.filter((s) => s === 200).length;
        const tooMany = statuses.filter((s) => s === 429).length;
        // No slot frees before t0 + delayMs (an admitted request is answered after its delay). A 429
        // arrived before its answer; a delayed 200 was admitted at least delayMs before its answer.
        const lastArrival = Math.max(...results.map((r) => (r.status === 200 ? r.at - delayMs : r.at)));
        const all = `${[...statuses].sort().join(",")}; last arrival by ${(lastArrival - t0).toFixed(0)} ms after the first send`;
        if (lastArrival - t0 < delayMs - 10) {
          // All 8 arrived while the first 5 were still in flight: exactly 5 admitted.
          assert.equal(ok, 5, all);
          assert.equal(tooMany, 3, all);
          return;
        }
        // Arrivals spread past the first answers (loaded machine): a freed slot may admit more.
        assert.ok(ok >= 5 && ok + tooMany === 8, all);
      } finally {
        await limited.close();
      }
    }
  });
});
