/**
 * App Service 2019, 2017 / Machine Learning, Cloud Shell, Azure Arc and the
 * Service Fabric-shaped path against raw requests: checklist 27–29, 33, 35, 43.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { legacyDate } from "../../src/serve/respond";
import { startServer, type RunningServer } from "../../src/serve/server";
import { ArcChallenges } from "../../src/serve/azureArc";
import { registeredSecretCount } from "../../src/log";
import { claimsOf, get, raw, useTempHome, VAULT } from "./support";

const UAMI = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const q = `resource=${encodeURIComponent(VAULT)}`;

function pathOf(url: string): string {
  return new URL(url).pathname;
}

describe("serve: App Service 2019 dialect", () => {
  const home = useTempHome();
  let server: RunningServer;
  let p: string;
  let secret: string;
  before(async () => {
    server = await startServer({ env: home.env, identities: [{ clientId: UAMI }] });
    p = pathOf(server.dialects.appService.IDENTITY_ENDPOINT!);
    secret = server.dialects.appService.IDENTITY_HEADER!;
  });
  after(() => server.close());

  it("serves with X-IDENTITY-HEADER and without Metadata; 29: includes client_id and epoch-string expires_on", async () => {
    const res = await get(server.port, `${p}?api-version=2019-08-01&${q}`, { "X-IDENTITY-HEADER": secret });
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body) as Record<string, string>;
    assert.deepEqual(Object.keys(body), ["access_token", "expires_in", "expires_on", "not_before", "resource", "token_type", "client_id"]);
    assert.match(body.expires_on!, /^\d{10}$/);
    assert.equal(body.client_id, server.systemClientId);
  });

  it("27: Metadata: true is neither required nor rejected", async () => {
    const res = await get(server.port, `${p}?api-version=2019-08-01&${q}`, { "X-IDENTITY-HEADER": secret, Metadata: "true" });
    assert.equal(res.status, 200);
  });

  it("28: client_id, principal_id/object_id and mi_res_id select a user-assigned identity; two of them is 400", async () => {
    const byClient = JSON.parse((await get(server.port, `${p}?api-version=2019-08-01&${q}&client_id=${UAMI}`, { "X-IDENTITY-HEADER": secret })).body);
    assert.equal(byClient.client_id, UAMI);
    const c = claimsOf(byClient.access_token);
    for (const sel of [`principal_id=${c.oid}`, `object_id=${c.oid}`, `mi_res_id=${encodeURIComponent(c.xms_mirid as string)}`]) {
      const res = await get(server.port, `${p}?api-version=2019-08-01&${q}&${sel}`, { "X-IDENTITY-HEADER": secret });
      assert.equal(res.status, 200, sel);
      assert.equal(JSON.parse(res.body).client_id, UAMI, sel);
    }
    const two = await get(server.port, `${p}?api-version=2019-08-01&${q}&client_id=${UAMI}&principal_id=${c.oid}`, { "X-IDENTITY-HEADER": secret });
    assert.equal(two.status, 400);
    const body = JSON.parse(two.body);
    assert.deepEqual(Object.keys(body), ["statusCode", "message", "correlationId"]);
    assert.equal(body.statusCode, 400);
    assert.equal(body.message, "Only one of client_id, principal_id (object_id) or mi_res_id may be specified.");
    assert.match(body.correlationId, /^[0-9a-f-]{36}$/);
  });

  it("28: any two selectors (object_id and msi_res_id spellings included) are 400, never a silent pick of one", async () => {
    const byClient = JSON.parse((await get(server.port, `${p}?api-version=2019-08-01&${q}&client_id=${UAMI}`, { "X-IDENTITY-HEADER": secret })).body);
    const c = claimsOf(byClient.access_token);
    const rid = encodeURIComponent(c.xms_mirid as string);
    const spellings = [`client_id=${UAMI}`, `principal_id=${c.oid}`, `object_id=${c.oid}`, `mi_res_id=${rid}`, `msi_res_id=${rid}`];
    for (let i = 0; i < spellings.length; i++) {
      for (let j = i + 1; j < spellings.length; j++) {
        const res = await get(server.port, `${p}?api-version=2019-08-01&${q}&${spellings[i]}&${spellings[j]}`, { "X-IDENTITY-HEADER": secret });
        assert.equal(res.status, 400, `${spellings[i]} + ${spellings[j]}`);
        assert.equal(JSON.parse(res.body).message, "Only one of client_id, principal_id (object_id) or mi_res_id may be specified.");
      }
    }
  });

  it("missing header ⇒ 401, wrong header ⇒ 403, App Service error shape, secret never echoed", async () => {
    const missing = await get(server.port, `${p}?api-version=2019-08-01&${q}`);
    assert.equal(missing.status, 401);
    assert.equal(JSON.parse(missing.body).message, "The X-IDENTITY-HEADER header is missing. Send the value of IDENTITY_HEADER in it.");
    const wrongValue = secret.slice(0, -1) + (secret.endsWith("0") ? "1" : "0");
    const wrong = await get(server.port, `${p}?api-version=2019-08-01&${q}`, { "X-IDENTITY-HEADER": wrongValue });
    assert.equal(wrong.status, 403);
    assert.equal(JSON.parse(wrong.body).message, "The X-IDENTITY-HEADER header does not match IDENTITY_HEADER of this endpoint.");
    assert.ok(!wrong.text.includes(secret) && !wrong.text.includes(wrongValue));
    const doubled = await raw(server.port, `GET ${p}?api-version=2019-08-01&${q} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-IDENTITY-HEADER: ${secret}\r\nX-IDENTITY-HEADER: ${secret}\r\nConnection: close\r\n\r\n`);
    assert.equal(doubled.status, 403);
    const msiSecret = await get(server.port, `${p}?api-version=2019-08-01&${q}`, { "X-IDENTITY-HEADER": server.env.MSI_SECRET! });
    assert.equal(msiSecret.status, 403, "the 2017 secret is not the App Service secret");
  });

  it("wrong api-version, missing resource and unknown identity are 400", async () => {
    const v = await get(server.port, `${p}?api-version=2017-09-01&${q}`, { "X-IDENTITY-HEADER": secret });
    assert.equal(v.status, 400);
    assert.equal(JSON.parse(v.body).message, "The api-version '2017-09-01' is not supported; use 2019-08-01.");
    const r = await get(server.port, `${p}?api-version=2019-08-01`, { "X-IDENTITY-HEADER": secret });
    assert.equal(r.status, 400);
    const u = await get(server.port, `${p}?api-version=2019-08-01&${q}&client_id=00000000-1111-2222-3333-444444444444`, { "X-IDENTITY-HEADER": secret });
    assert.equal(u.status, 400);
    assert.equal(JSON.parse(u.body).message, "Identity not found");
  });
});

describe("serve: App Service 2017 / Machine Learning dialect", () => {
  const home = useTempHome();
  let server: RunningServer;
  let legacy: RunningServer;
  before(async () => {
    server = await startServer({ env: home.env, identities: [{ clientId: UAMI }] });
    legacy = await startServer({ env: home.env, legacyDates: true });
  });
  after(async () => {
    await server.close();
    await legacy.close();
  });

  it("serves with the secret header, with or without Metadata (Python 1.13 sends none); epoch expires_on", async () => {
    const p = pathOf(server.dialects.machineLearning.MSI_ENDPOINT!);
    for (const extra of [{}, { Metadata: "true" }] as Array<Record<string, string>>) {
      const res = await get(server.port, `${p}?api-version=2017-09-01&${q}`, { secret: server.env.MSI_SECRET!, ...extra });
      assert.equal(res.status, 200);
      const body = JSON.parse(res.body);
      assert.match(body.expires_on, /^\d{10}$/);
      assert.equal(body.client_id, server.systemClientId);
    }
  });

  it("only a client id selects here (spec §4.4.2/§4.8): object_id, principal_id, mi_res_id and msi_res_id are each 400", async () => {
    const p = pathOf(server.dialects.machineLearning.MSI_ENDPOINT!);
    for (const name of ["object_id", "principal_id", "mi_res_id", "msi_res_id"]) {
      const res = await get(server.port, `${p}?api-version=2017-09-01&${q}&${name}=${UAMI}`, { secret: server.env.MSI_SECRET! });
      assert.equal(res.status, 400, name);
      assert.equal(JSON.parse(res.body).message, "Only client id is supported for user-assigned managed identity in this dialect; use clientid.", name);
    }
  });

  it("the 2017 path also answers with a trailing '/' (az 2.45 requests `${MSI_ENDPOINT}/?resource=…`)", async () => {
    const p = pathOf(server.dialects.machineLearning.MSI_ENDPOINT!);
    const res = await get(server.port, `${p}/?${q}&api-version=2017-09-01`, { secret: server.env.MSI_SECRET! });
    assert.equal(res.status, 200);
  });

  it("clientid = DEFAULT_IDENTITY_CLIENT_ID selects the system identity (MSAL.NET); another clientid a user-assigned one", async () => {
    const p = pathOf(server.dialects.machineLearning.MSI_ENDPOINT!);
    const sys = await get(server.port, `${p}?api-version=2017-09-01&${q}&clientid=${server.dialects.machineLearning.DEFAULT_IDENTITY_CLIENT_ID}`, { secret: server.env.MSI_SECRET! });
    assert.equal(sys.status, 200);
    assert.equal(JSON.parse(sys.body).client_id, server.systemClientId);
    const user = await get(server.port, `${p}?api-version=2017-09-01&${q}&clientid=${UAMI}`, { secret: server.env.MSI_SECRET! });
    assert.equal(JSON.parse(user.body).client_id, UAMI);
    const objectId = await get(server.port, `${p}?api-version=2017-09-01&${q}&object_id=${UAMI}`, { secret: server.env.MSI_SECRET! });
    assert.equal(objectId.status, 400);
  });

  it("legacyDates writes expires_on as MM/DD/YYYY HH:MM:SS +00:00", async () => {
    const p = pathOf(legacy.dialects.machineLearning.MSI_ENDPOINT!);
    const res = await get(legacy.port, `${p}?api-version=2017-09-01&${q}`, { secret: legacy.env.MSI_SECRET! });
    const body = JSON.parse(res.body);
    assert.match(body.expires_on, /^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2} \+00:00$/);
    const parsed = Date.parse(body.expires_on.replace(/^(\d{2})\/(\d{2})\/(\d{4}) (.*) \+00:00$/, "$3-$1-$2T$4Z"));
    assert.ok(Math.abs(parsed / 1000 - (Date.now() / 1000 + Number(body.expires_in))) < 3);
  });

  it("legacyDates: \"windows\" writes M/D/YYYY h:MM:SS AM +00:00", async () => {
    assert.equal(legacyDate(1579152252, "windows"), "1/16/2020 5:24:12 AM +00:00");
    assert.equal(legacyDate(1561000678), "06/20/2019 03:17:58 +00:00");
    assert.equal(legacyDate(Date.UTC(2030, 10, 28, 23, 22, 33) / 1000, "windows"), "11/28/2030 11:22:33 PM +00:00");
    assert.equal(legacyDate(Date.UTC(2030, 0, 1, 0, 5, 0) / 1000, "windows"), "1/1/2030 12:05:00 AM +00:00");
    const win = await startServer({ env: home.env, legacyDates: "windows" });
    try {
      const p = pathOf(win.dialects.machineLearning.MSI_ENDPOINT!);
      const body = JSON.parse((await get(win.port, `${p}?api-version=2017-09-01&${q}`, { secret: win.env.MSI_SECRET! })).body);
      assert.match(body.expires_on, /^\d{1,2}\/\d{1,2}\/\d{4} \d{1,2}:\d{2}:\d{2} (AM|PM) \+00:00$/);
    } finally {
      await win.close();
    }
  });

  it("missing secret ⇒ 401, wrong secret ⇒ 403, wrong api-version ⇒ 400", async () => {
    const p = pathOf(server.dialects.machineLearning.MSI_ENDPOINT!);
    assert.equal((await get(server.port, `${p}?api-version=2017-09-01&${q}`)).status, 401);
    assert.equal((await get(server.port, `${p}?api-version=2017-09-01&${q}`, { secret: "x".repeat(64) })).status, 403);
    assert.equal((await get(server.port, `${p}?api-version=2019-08-01&${q}`, { secret: server.env.MSI_SECRET! })).status, 400);
  });
});

describe("serve: Cloud Shell dialect", () => {
  const home = useTempHome();
  let server: RunningServer;
  let p: string;
  before(async () => {
    server = await startServer({ env: home.env });
    p = pathOf(server.dialects.cloudShell.MSI_ENDPOINT!);
  });
  after(() => server.close());

  function post(body: string, headers: Record<string, string> = { Metadata: "true" }) {
    const h = Object.entries({ "Content-Type": "application/x-www-form-urlencoded;charset=utf-8", ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    return raw(server.port, `POST ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${h}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  it("33: POST form with Metadata returns strings, refresh_token \"\", no client_id", async () => {
    const res = await post(`resource=${encodeURIComponent("https://management.azure.com/")}`);
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body);
    assert.deepEqual(Object.keys(body), ["access_token", "refresh_token", "expires_in", "expires_on", "not_before", "resource", "token_type"]);
    assert.equal(body.refresh_token, "");
    for (const v of Object.values(body)) assert.equal(typeof v, "string");
    assert.equal(claimsOf(body.access_token).aud, "https://management.azure.com/");
  });

  it("GET with the resource in the query (a Cloud Shell script's Invoke-RestMethod) answers exactly as the POST does", async () => {
    const resource = "https://vault.azure.net";
    const viaGet = await get(server.port, `${p}?resource=${encodeURIComponent(resource)}`, { Metadata: "true" });
    assert.equal(viaGet.status, 200, viaGet.body);
    const viaPost = await post(`resource=${encodeURIComponent(resource)}`);
    const [g, q] = [JSON.parse(viaGet.body), JSON.parse(viaPost.body)];
    assert.deepEqual(Object.keys(g), ["access_token", "refresh_token", "expires_in", "expires_on", "not_before", "resource", "token_type"]);
    assert.deepEqual(Object.keys(g), Object.keys(q));
    assert.equal(g.access_token, q.access_token, "the same cached token");
    assert.equal(g.resource, resource);
    assert.equal(claimsOf(g.access_token).aud, resource);
    // The GET has the POST's rules: Metadata required, no user-assigned selector, a resource, no duplicates.
    assert.equal((await get(server.port, `${p}?resource=x`, {})).status, 400);
    const uami = await get(server.port, `${p}?resource=x&client_id=${UAMI}`, { Metadata: "true" });
    assert.equal(uami.status, 400);
    assert.equal(JSON.parse(uami.body).error.code, "BadRequest");
    const none = await get(server.port, p, { Metadata: "true" });
    assert.deepEqual(JSON.parse(none.body), { error: { code: "BadRequest", message: "Required audience parameter not specified" } });
    const twice = await get(server.port, `${p}?resource=a&resource=b`, { Metadata: "true" });
    assert.equal(twice.status, 400);
    assert.match(JSON.parse(twice.body).error.message, /Duplicate query parameter 'resource'/);
  });

  it("32/spec §7: every user-assigned spelling (client_id, object_id, principal_id, msi_res_id, mi_res_id) is refused, by POST and by GET", async () => {
    for (const name of ["client_id", "object_id", "principal_id", "msi_res_id", "mi_res_id"]) {
      const viaPost = await post(`resource=x&${name}=${UAMI}`);
      assert.equal(viaPost.status, 400, `POST ${name}`);
      assert.match(JSON.parse(viaPost.body).error.message, /^User-assigned managed identities are not supported in Cloud Shell/, `POST ${name}`);
      const viaGet = await get(server.port, `${p}?resource=x&${name}=${UAMI}`, { Metadata: "true" });
      assert.equal(viaGet.status, 400, `GET ${name}`);
      assert.match(JSON.parse(viaGet.body).error.message, /^User-assigned managed identities are not supported in Cloud Shell/, `GET ${name}`);
    }
  });

  it("missing Metadata ⇒ IMDS's 400; PUT ⇒ 405; user-assigned ⇒ 400; oversized body ⇒ 413", async () => {
    const noMeta = await post(`resource=x`, {});
    assert.equal(noMeta.status, 400);
    assert.equal(noMeta.body, '{"error":"bad_request_102","error_description":"Required metadata header not specified"}');
    const putRes = await raw(server.port, `PUT ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.equal(putRes.status, 405);
    assert.equal(putRes.headers["allow"], "GET, POST");
    const uami = await post(`resource=x&client_id=${UAMI}`);
    assert.equal(uami.status, 400);
    assert.equal(JSON.parse(uami.body).error.code, "BadRequest");
    const big = await post(`resource=${"a".repeat(70 * 1024)}`);
    assert.equal(big.status, 413);
    const noResource = await post(``);
    assert.equal(noResource.status, 400);
    assert.deepEqual(JSON.parse(noResource.body), { error: { code: "BadRequest", message: "Required audience parameter not specified" } });
  });
});

describe("serve: Azure Arc dialect (35)", () => {
  const home = useTempHome();
  let server: RunningServer;
  let keyDir: string;
  before(async () => {
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-arc-"));
    server = await startServer({ env: home.env, arcKeyDir: keyDir, identities: [{ clientId: UAMI }] });
  });
  after(async () => {
    await server.close();
    fs.rmSync(keyDir, { recursive: true, force: true });
  });

  it("first request ⇒ 401 with WWW-Authenticate: Basic realm=<dir>/<x>.key; retry with the file contents ⇒ 200; the key is single-use", async () => {
    const p = pathOf(server.dialects.azureArc!.IDENTITY_ENDPOINT!);
    assert.equal(server.dialects.azureArc!.IMDS_ENDPOINT, server.url);
    for (const version of ["2020-06-01", "2019-11-01"]) {
      const first = await get(server.port, `${p}?api-version=${version}&${q}`, { Metadata: "true" });
      assert.equal(first.status, 401);
      const m = /^Basic realm=(.+\.key)$/.exec(first.headers["www-authenticate"] ?? "");
      assert.ok(m, first.headers["www-authenticate"]);
      const file = m[1]!;
      assert.equal(path.dirname(file), keyDir);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const secret = fs.readFileSync(file, "utf8");
      assert.ok(!first.text.includes(secret));
      const second = await get(server.port, `${p}?api-version=${version}&${q}`, { Metadata: "true", Authorization: `Basic ${secret}` });
      assert.equal(second.status, 200);
      assert.equal(JSON.parse(second.body).client_id, server.systemClientId);
      assert.ok(!fs.existsSync(file), "key file removed after use");
      const replay = await get(server.port, `${p}?api-version=${version}&${q}`, { Metadata: "true", Authorization: `Basic ${secret}` });
      assert.equal(replay.status, 401);
    }
  });

  it("echoes the user-assigned selector (MSAL JS checks it) and requires Metadata", async () => {
    const p = pathOf(server.dialects.azureArc!.IDENTITY_ENDPOINT!);
    const challenge = async () => fs.readFileSync(/realm=(.+)$/.exec((await get(server.port, `${p}?api-version=2020-06-01&${q}`, { Metadata: "true" })).headers["www-authenticate"]!)![1]!, "utf8");
    const byClient = JSON.parse((await get(server.port, `${p}?api-version=2020-06-01&${q}&client_id=${UAMI}`, { Metadata: "true", Authorization: `Basic ${await challenge()}` })).body);
    assert.equal(byClient.client_id, UAMI);
    const oid = claimsOf(byClient.access_token).oid as string;
    const byObject = JSON.parse((await get(server.port, `${p}?api-version=2020-06-01&${q}&object_id=${oid}`, { Metadata: "true", Authorization: `Basic ${await challenge()}` })).body);
    assert.equal(byObject.object_id, oid);
    const noMeta = await get(server.port, `${p}?api-version=2020-06-01&${q}`);
    assert.equal(noMeta.status, 400);
    const badVersion = await get(server.port, `${p}?api-version=2018-02-01&${q}`, { Metadata: "true" });
    assert.equal(badVersion.status, 400);
  });

  it("Metadata must be exactly 'true', as on IMDS: 'True', 'TRUE', '1' get IMDS's 400 and no challenge (no key file written)", async () => {
    const p = pathOf(server.dialects.azureArc!.IDENTITY_ENDPOINT!);
    for (const value of ["True", "TRUE", "1", "false"]) {
      const before = fs.readdirSync(keyDir).length;
      const res = await get(server.port, `${p}?api-version=2020-06-01&${q}`, { Metadata: value });
      assert.equal(res.status, 400, `Metadata: ${value}`);
      assert.equal(res.body, '{"error":"bad_request_102","error_description":"Required metadata header not specified"}');
      assert.equal(res.headers["www-authenticate"], undefined);
      assert.equal(fs.readdirSync(keyDir).length, before, "no key file written");
    }
  });

  it("is disabled with a reason when its default key folder is missing (here AZMI_ARC_TOKENS_DIR, which the default follows)", async () => {
    const missing = path.join(home.dir, "no-such-tokens-folder");
    const other = await startServer({ env: { ...home.env, AZMI_ARC_TOKENS_DIR: missing } });
    try {
      assert.equal(other.dialects.azureArc, undefined);
      assert.equal(
        other.arcDisabledReason,
        `the Azure Arc key folder ${missing} does not exist (AZMI_ARC_TOKENS_DIR); create it (owner-only) or unset AZMI_ARC_TOKENS_DIR to enable the Arc dialect`,
      );
      const res = await get(other.port, "/arc/metadata/identity/oauth2/token?api-version=2020-06-01&resource=x", { Metadata: "true" });
      assert.equal(res.status, 404);
    } finally {
      await other.close();
    }
  });

  it("without AZMI_ARC_TOKENS_DIR the default is MSAL's folder, enabled exactly when that folder is usable", async () => {
    const other = await startServer({ env: home.env });
    try {
      let usable = true;
      try {
        fs.accessSync("/var/opt/azcmagent/tokens", fs.constants.W_OK);
        usable = fs.statSync("/var/opt/azcmagent/tokens").isDirectory();
      } catch {
        usable = false;
      }
      assert.equal(other.dialects.azureArc !== undefined, usable);
      if (!usable) assert.match(other.arcDisabledReason!, /^the Azure Arc key folder \/var\/opt\/azcmagent\/tokens (does not exist|is not).*; create it \(as root\) to enable the Arc dialect$/);
    } finally {
      await other.close();
    }
  });

  it("challenges leave nothing behind: answered or expired, a key's secret leaves the redaction set (a long-running server does not grow it)", async () => {
    const p = pathOf(server.dialects.azureArc!.IDENTITY_ENDPOINT!);
    const before = registeredSecretCount();
    for (let i = 0; i < 20; i++) {
      const realm = /realm=(.+)$/.exec((await get(server.port, `${p}?api-version=2020-06-01&${q}`, { Metadata: "true" })).headers["www-authenticate"]!)![1]!;
      const ok = await get(server.port, `${p}?api-version=2020-06-01&${q}`, { Metadata: "true", Authorization: `Basic ${fs.readFileSync(realm, "utf8")}` });
      assert.equal(ok.status, 200);
    }
    assert.equal(registeredSecretCount(), before);
    // Unanswered ones too, once they expire (and at close).
    const challenges = new ArcChallenges(keyDir);
    challenges.issue(0);
    assert.equal(registeredSecretCount(), before + 1);
    challenges.issue(120_000); // the first one has expired by then
    assert.equal(registeredSecretCount(), before + 1);
    challenges.close();
    assert.equal(registeredSecretCount(), before);
  });

  it("too many unanswered challenges: 429 with Retry-After (clients retry a 429 only when told when), until the oldest expires", () => {
    const challenges = new ArcChallenges(keyDir);
    try {
      for (let i = 0; i < 256; i++) assert.ok(challenges.issue(1_000 + i * 100), `challenge ${i}`);
      assert.equal(challenges.issue(20_000), undefined);
      assert.equal(challenges.retryAfterSec(20_000), 41); // the first expires at 61 000
      assert.ok(challenges.issue(61_000), "the oldest expired: a place is free");
    } finally {
      challenges.close();
    }
  });

  it("with AZMI_ARC_TOKENS_DIR set to a usable folder, Arc challenges put their key files there", async () => {
    const dir = fs.mkdtempSync(path.join(home.dir, "tokens-"));
    const other = await startServer({ env: { ...home.env, AZMI_ARC_TOKENS_DIR: dir } });
    try {
      const p = pathOf(other.dialects.azureArc!.IDENTITY_ENDPOINT!);
      const first = await get(other.port, `${p}?api-version=2020-06-01&resource=https%3A%2F%2Fvault.azure.net`, { Metadata: "true" });
      assert.equal(first.status, 401);
      assert.equal(path.dirname(/^Basic realm=(.+\.key)$/.exec(first.headers["www-authenticate"] ?? "")![1]!), dir);
    } finally {
      await other.close();
    }
  });
});

describe("serve: Service Fabric-shaped path (43)", () => {
  const home = useTempHome();
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: home.env });
  });
  after(() => server.close());

  it("missing secret ⇒ SecretHeaderNotFound in SF's error shape; with secret ⇒ 200", async () => {
    const missing = await get(server.port, `/servicefabric/token?api-version=2019-07-01-preview&${q}`);
    assert.equal(missing.status, 401);
    const body = JSON.parse(missing.body);
    assert.deepEqual(Object.keys(body.error), ["correlationId", "code", "message"]);
    assert.equal(body.error.code, "SecretHeaderNotFound");
    assert.equal(body.error.message, "Secret is not found in the request headers.");
    const ok = await get(server.port, `/servicefabric/token?api-version=2019-07-01-preview&${q}`, { secret: server.env.IDENTITY_HEADER! });
    assert.equal(ok.status, 200);
    const noResource = await get(server.port, `/servicefabric/token?api-version=2020-05-01`, { secret: server.env.IDENTITY_HEADER! });
    assert.equal(JSON.parse(noResource.body).error.code, "ArgumentNullOrEmpty");
    const badVersion = await get(server.port, `/servicefabric/token?${q}`, { secret: server.env.IDENTITY_HEADER! });
    assert.equal(JSON.parse(badVersion.body).error.message, "The api-version '' is not supported. Supported version is '2019-07-01-preview'.");
  });
});
