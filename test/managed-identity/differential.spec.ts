/**
 * Differential suite: our ManagedIdentityCredential and @azure/identity's
 * (4.13, in a child process per scenario) against the same fakes; the
 * requests they send are compared field by field (method, path, query
 * parameters in order, identity headers, body). Where we differ on purpose
 * the test asserts the difference and says why.
 *
 * Differences on purpose (asserted below):
 * - MSAL telemetry headers (`x-client-SKU`, `x-client-VER`, `x-ms-client-request-id`,
 *   `User-Agent`, a form `Content-Type` on GETs) are not sent: no endpoint
 *   requires them and they cost bytes on every request.
 * - IMDS via `AZURE_POD_IDENTITY_AUTHORITY_HOST`: MSAL JS appends a trailing
 *   `/` to the path; we send the documented path (IMDS accepts both).
 * - App Service object id: we send the documented `principal_id`; MSAL JS
 *   sends the alias `object_id`.
 * - Cloud Shell `Content-Type`: MSAL adds `;charset=utf-8`.
 * - 429 without `Retry-After` is retried (MSAL.NET, Python and the IMDS docs
 *   do; JS does not).
 * - App Service 2017 date strings in `expires_on`: JS reports the token as
 *   expiring at once (and re-requests on every call); we parse the date.
 * - Service Fabric: we pin the certificate thumbprint; JS cannot reach a
 *   self-signed endpoint at all (here it is given NODE_EXTRA_CA_CERTS).
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { json } from "../fakes/common";
import type { Fake } from "../fakes/common";
import { startFakeAppService } from "../fakes/appService";
import { startFakeArc } from "../fakes/azureArc";
import { startFakeCloudShell } from "../fakes/cloudShell";
import { startFakeImds } from "../fakes/imds";
import { startFakeMsi2017 } from "../fakes/machineLearning";
import type { LoggedRequest } from "../fakes/rawServer";
import { startFakeServiceFabric } from "../fakes/serviceFabric";
import { cleanupHomes, credential, DEAD_IMDS, rejection, safeEnv } from "./helpers";

const VAULT = "https://vault.azure.net/.default";
const CLIENT = "7a4c5b3e-1111-4222-8333-944455556666";
const OBJECT = "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff";
const RESID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1";

interface JsResult {
  ok: boolean;
  token?: string;
  expiresOnTimestamp?: number;
  name?: string;
  message?: string;
  at?: number;
}

/** Run @azure/identity in a fresh process with exactly these identity variables. */
function runJs(vars: Record<string, string>, options: Record<string, unknown>, calls: Array<string | string[]>): Promise<JsResult[]> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    // NETWORK RULE: whatever the scenario, IMDS is loopback.
    AZURE_POD_IDENTITY_AUTHORITY_HOST: DEAD_IMDS,
    ...vars,
  };
  const script = path.join(__dirname, "jsClient.js");
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, JSON.stringify({ options, calls })], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && !stdout) return reject(new Error(`jsClient failed: ${error.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as JsResult[]);
      } catch {
        reject(new Error(`jsClient printed: ${stdout}\n${stderr}`));
      }
    });
  });
}

/** The parts of a request that matter to an identity endpoint. */
function shape(r: LoggedRequest) {
  const h = (n: string) => r.header(n);
  return {
    method: r.method,
    path: r.path,
    query: r.query,
    metadata: h("metadata"),
    identityHeader: h("x-identity-header"),
    secret: h("secret"),
    authorization: h("authorization"),
    body: r.body,
  };
}

/** Run JS then us against one fake; return both sets of token requests. */
async function both(fake: Fake, options: Record<string, unknown>, calls: string[], jsExtraEnv: Record<string, string> = {}) {
  const js = await runJs({ ...fake.env, ...jsExtraEnv }, options, calls);
  const jsRequests = fake.requests.splice(0);
  const ours: Array<{ ok: boolean; token?: string; expiresOnTimestamp?: number; error?: Error }> = [];
  const c = credential(safeEnv(fake.env), options);
  for (const scope of calls) {
    try {
      const t = await c.getToken(scope);
      ours.push({ ok: true, token: t.token, expiresOnTimestamp: t.expiresOnTimestamp });
    } catch (e) {
      ours.push({ ok: false, error: e as Error });
    }
  }
  const ourRequests = fake.requests.splice(0);
  return { js, ours, jsRequests, ourRequests };
}

describe("managed-identity/differential vs @azure/identity", function () {
  this.timeout(120_000);
  after(cleanupHomes);

  describe("IMDS (via AZURE_POD_IDENTITY_AUTHORITY_HOST)", () => {
    for (const [label, options, param] of [
      ["system-assigned", {}, undefined],
      ["clientId", { clientId: CLIENT }, ["client_id", CLIENT]],
      ["resourceId", { resourceId: RESID }, ["msi_res_id", RESID]],
      ["objectId", { objectId: OBJECT }, ["object_id", OBJECT]],
    ] as const) {
      it(`${label}: same method, query and Metadata; path differs only by JS's trailing slash`, async () => {
        const imds = await startFakeImds({ identities: [{ clientId: CLIENT, objectId: OBJECT, resourceId: RESID }] });
        try {
          const r = await both(imds, options, [VAULT]);
          assert.ok(r.js[0]!.ok, JSON.stringify(r.js[0]));
          assert.ok(r.ours[0]!.ok);
          assert.equal(r.jsRequests.length, 1, "JS standalone does not probe (checklist 22/23)");
          assert.equal(r.ourRequests.length, 1);
          const js = shape(r.jsRequests[0]!);
          const ours = shape(r.ourRequests[0]!);
          assert.equal(js.path, "/metadata/identity/oauth2/token/"); // MSAL JS with an override
          assert.equal(ours.path, "/metadata/identity/oauth2/token");
          assert.deepEqual({ ...ours, path: "" }, { ...js, path: "" });
          const expectedQuery = [["api-version", "2018-02-01"], ["resource", "https://vault.azure.net"], ...(param ? [param] : [])];
          assert.deepEqual(ours.query, expectedQuery);
          // Telemetry headers: MSAL sends them, we do not (on purpose).
          assert.equal(r.jsRequests[0]!.header("x-client-sku"), "msal.js.node");
          assert.ok(r.jsRequests[0]!.header("x-ms-client-request-id"));
          assert.equal(r.ourRequests[0]!.header("x-client-sku"), undefined);
          // Both hand back the token the fake issued.
          assert.deepEqual([r.js[0]!.token, r.ours[0]!.token], imds.issued);
        } finally {
          await imds.close();
        }
      });
    }

    it("400 Identity not found: both one request and unavailable (same chain outcome)", async () => {
      const imds = await startFakeImds({ identities: [] });
      try {
        const r = await both(imds, { clientId: CLIENT }, [VAULT]);
        assert.equal(r.js[0]!.name, "CredentialUnavailableError");
        assert.equal(r.ours[0]!.error!.name, "CredentialUnavailableError");
        assert.equal(r.jsRequests.length, 1);
        assert.equal(r.ourRequests.length, 1);
      } finally {
        await imds.close();
      }
    });

    it("429 without Retry-After: JS gives up after 1 request, we retry (on purpose)", async () => {
      const imds = await startFakeImds({ faults: [json(429, { error: "throttled" })] });
      try {
        const js = await runJs(imds.env, {}, [VAULT]);
        assert.equal(js[0]!.ok, false);
        assert.equal(imds.requests.splice(0).length, 1);
        const imds2 = await startFakeImds({ faults: [json(429, { error: "throttled" })] });
        try {
          const t = await credential(safeEnv(imds2.env)).getToken(VAULT);
          assert.equal(t.token, imds2.issued[0]);
          assert.equal(imds2.requests.length, 2);
        } finally {
          await imds2.close();
        }
      } finally {
        await imds.close();
      }
    });

    it("24 h token: both cache the second call (checklist 50)", async () => {
      const imds = await startFakeImds({ lifetimeSec: 86400 });
      try {
        const r = await both(imds, {}, [VAULT, VAULT]);
        assert.equal(r.jsRequests.length, 1);
        assert.equal(r.ourRequests.length, 1);
        assert.equal(r.js[0]!.token, r.js[1]!.token);
      } finally {
        await imds.close();
      }
    });
  });

  describe("App Service 2019", () => {
    for (const [label, options] of [["system-assigned", {}], ["clientId", { clientId: CLIENT }], ["resourceId", { resourceId: RESID }]] as const) {
      it(`${label}: identical method, path, query, X-IDENTITY-HEADER, no Metadata`, async () => {
        const app = await startFakeAppService();
        try {
          const r = await both(app, options, [VAULT]);
          assert.ok(r.js[0]!.ok && r.ours[0]!.ok, JSON.stringify(r.js));
          assert.deepEqual(shape(r.ourRequests[0]!), shape(r.jsRequests[0]!));
        } finally {
          await app.close();
        }
      });
    }

    it("objectId: we send the documented principal_id, JS the alias object_id", async () => {
      const app = await startFakeAppService();
      try {
        const r = await both(app, { objectId: OBJECT }, [VAULT]);
        assert.deepEqual(r.jsRequests[0]!.query[2], ["object_id", OBJECT]);
        assert.deepEqual(r.ourRequests[0]!.query[2], ["principal_id", OBJECT]);
        const { query: _a, ...js } = shape(r.jsRequests[0]!);
        const { query: _b, ...ours } = shape(r.ourRequests[0]!);
        assert.deepEqual(ours, js);
      } finally {
        await app.close();
      }
    });
  });

  describe("MSI_ENDPOINT + MSI_SECRET (Machine Learning / App Service 2017)", () => {
    it("clientId: identical request (api-version 2017-09-01, clientid, secret, Metadata)", async () => {
      const ml = await startFakeMsi2017({ expiresOnFormat: "epoch-string" });
      try {
        const r = await both(ml, { clientId: CLIENT }, [VAULT]);
        assert.ok(r.js[0]!.ok && r.ours[0]!.ok);
        assert.deepEqual(shape(r.ourRequests[0]!), shape(r.jsRequests[0]!));
      } finally {
        await ml.close();
      }
    });

    it("2017 date expires_on: JS treats the token as expiring now and re-requests; we cache it (on purpose)", async () => {
      const ml = await startFakeMsi2017({ expiresOnFormat: "windows" });
      try {
        const r = await both(ml, {}, [VAULT, VAULT]);
        assert.equal(r.jsRequests.length, 2, "JS re-requests");
        assert.ok(Math.abs(r.js[0]!.expiresOnTimestamp! - r.js[0]!.at!) < 60_000, "JS: expires ≈ now");
        assert.equal(r.ourRequests.length, 1, "we cache");
        assert.ok(r.ours[0]!.expiresOnTimestamp! > Date.now() + 50 * 60_000, "ours: ≈ 1 h");
      } finally {
        await ml.close();
      }
    });
  });

  describe("Cloud Shell", () => {
    it("POST with the same form body and Metadata; Content-Type differs only by ;charset=utf-8", async () => {
      const shell = await startFakeCloudShell();
      try {
        const r = await both(shell, {}, ["https://management.azure.com/.default"]);
        assert.ok(r.js[0]!.ok && r.ours[0]!.ok);
        assert.deepEqual(shape(r.ourRequests[0]!), shape(r.jsRequests[0]!));
        assert.equal(r.jsRequests[0]!.header("content-type"), "application/x-www-form-urlencoded;charset=utf-8");
        assert.equal(r.ourRequests[0]!.header("content-type"), "application/x-www-form-urlencoded");
      } finally {
        await shell.close();
      }
    });

    it("a user-assigned id: both refuse without a request", async () => {
      const shell = await startFakeCloudShell();
      try {
        const r = await both(shell, { clientId: CLIENT }, [VAULT]);
        assert.equal(r.js[0]!.name, "CredentialUnavailableError");
        assert.equal(r.ours[0]!.error!.name, "CredentialUnavailableError");
        assert.equal(r.ours[0]!.error!.message, r.js[0]!.message);
        assert.equal(r.jsRequests.length + r.ourRequests.length, 0);
      } finally {
        await shell.close();
      }
    });
  });

  describe("Azure Arc", () => {
    const ARC_DIR = "/var/opt/azcmagent/tokens";
    let created: string | undefined;
    before(function () {
      // JS only reads key files from the agent's real folder; we are root on the test machine.
      try {
        if (!fs.existsSync(ARC_DIR)) {
          created = fs.existsSync("/var/opt/azcmagent") ? ARC_DIR : "/var/opt/azcmagent";
          fs.mkdirSync(ARC_DIR, { recursive: true });
        }
        fs.accessSync(ARC_DIR, fs.constants.W_OK);
      } catch {
        this.skip();
      }
    });
    beforeEach(() => fs.mkdirSync(ARC_DIR, { recursive: true })); // other suites may share this folder
    after(() => {
      // Remove only empty folders we created: never another suite's key files.
      if (!created) return;
      for (const dir of created === ARC_DIR ? [ARC_DIR] : [ARC_DIR, created]) {
        try {
          fs.rmdirSync(dir);
        } catch {}
      }
    });

    it("challenge flow: identical two requests (api-version 2020-06-01, Metadata, then Basic <key>)", async () => {
      const arc = await startFakeArc({ tokensDir: ARC_DIR });
      try {
        const r = await both(arc, {}, [VAULT], {});
        assert.ok(r.js[0]!.ok, JSON.stringify(r.js[0]));
        assert.ok(r.ours[0]!.ok);
        assert.equal(r.jsRequests.length, 2);
        assert.deepEqual(r.ourRequests.map(shape), r.jsRequests.map(shape));
      } finally {
        await arc.close();
      }
    });

    it("user-assigned echo: both accept an echo and send the same selector", async () => {
      const arc = await startFakeArc({ tokensDir: ARC_DIR });
      try {
        const r = await both(arc, { clientId: CLIENT }, [VAULT]);
        assert.ok(r.js[0]!.ok, JSON.stringify(r.js[0]));
        assert.ok(r.ours[0]!.ok);
        assert.deepEqual(r.ourRequests.map(shape), r.jsRequests.map(shape));
      } finally {
        await arc.close();
      }
    });
  });

  describe("Service Fabric", () => {
    it("same request (api-version 2019-07-01-preview, secret); JS needs the cert trusted, we pin it", async () => {
      const sf = await startFakeServiceFabric();
      try {
        const r = await both(sf, {}, [VAULT], { NODE_EXTRA_CA_CERTS: sf.cert.certFile });
        assert.ok(r.js[0]!.ok, JSON.stringify(r.js[0]));
        assert.ok(r.ours[0]!.ok);
        assert.deepEqual(shape(r.ourRequests[0]!), shape(r.jsRequests[0]!));
        const untrusted = await runJs(sf.env, {}, [VAULT]);
        assert.equal(untrusted[0]!.name, "CredentialUnavailableError", "checklist 42: JS cannot use a self-signed SF endpoint");
      } finally {
        await sf.close();
      }
    });
  });

  it("multiple scopes: same class and message, no request (checklist 4)", async () => {
    const imds = await startFakeImds();
    try {
      const scopes = ["https://a/.default", "https://b/.default"];
      const js = await runJs(imds.env, {}, [scopes as unknown as string]);
      const ours = await rejection(credential(safeEnv(imds.env)).getToken(scopes));
      assert.equal(js[0]!.name, ours.name);
      assert.equal(js[0]!.message, ours.message);
      assert.equal(imds.requests.length, 0);
    } finally {
      await imds.close();
    }
  });
});
