/**
 * The IMDS probe and its memo (brief: "the IMDS probe, done right";
 * checklist 20–23 where they apply to us).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { clearProcessProbeMemo, networkFingerprint, PROBE_MEMO_FILE } from "../../src/cache/probeMemo";
import { looksLikeImds } from "../../src/managed-identity/probe";
import { DOCKER_UNREACHABLE_TEXT } from "../../src/serve/faults";
import { json } from "../fakes/common";
import { startFakeImds } from "../fakes/imds";
import { closedPort, startRawServer } from "../fakes/rawServer";
import { useCleanEnv } from "../support/env";
import { cleanupHomes, credential, rejection, safeEnv } from "./helpers";

const VAULT = "https://vault.azure.net/.default";
const DOCKER = { status: 403, headers: { "Content-Type": "text/plain" }, body: DOCKER_UNREACHABLE_TEXT };

describe("managed-identity/probe", () => {
  const env = useCleanEnv();
  beforeEach(clearProcessProbeMemo);
  after(cleanupHomes);

  it("looksLikeImds: only IMDS's 400 with a JSON error (or a token)", () => {
    const b = (s: string) => Buffer.from(s);
    assert.ok(looksLikeImds(400, b('{"error":"bad_request_102","error_description":"Required metadata header not specified"}')));
    assert.ok(!looksLikeImds(400, b("<html>Bad Request</html>")));
    assert.ok(!looksLikeImds(400, b('{"message":"proxy"}')));
    assert.ok(!looksLikeImds(403, b(DOCKER.body)));
    assert.ok(!looksLikeImds(502, b('{"error":"x"}')));
    // A JSON error with another status than IMDS's 400: an egress filter or proxy in front of that address.
    for (const status of [401, 403, 407, 200]) assert.ok(!looksLikeImds(status, b('{"error":"resolve_deny","error_description":"destination denied by policy"}')), String(status));
    // IMDS itself while it throttles or updates (Azure/azure-sdk-for-net#39574: Server: IMDS/150.870.65.1103).
    for (const status of [404, 408, 410, 429]) assert.ok(looksLikeImds(status, b('{"error":"invalid_request","error_description":"Temporarily throttled, too many requests"}')), String(status));
    assert.ok(looksLikeImds(200, b('{"access_token":"x"}')));
    assert.ok(!looksLikeImds(403, b('{"access_token":"x"}')));
    assert.ok(!looksLikeImds(400, Buffer.from([0xff, 0xfe])));
    // aad-pod-identity's NMI (AKS pod identity), which stands in for IMDS: Go's http.Error text for a request without resource.
    assert.ok(looksLikeImds(400, b("parameter resource cannot be empty\n")));
    assert.ok(!looksLikeImds(400, b("parameter resource cannot be empty, says the proxy")));
  });

  it("positive: one GET without Metadata and without query, then the token request; not repeated (checklist 20; 22 differs on purpose: we probe the override too, cheaply)", async () => {
    const imds = await startFakeImds();
    try {
      const e = safeEnv(imds.env);
      const c = credential(e, { probeImds: true });
      await c.getToken(VAULT);
      await c.getToken("https://storage.azure.com/.default");
      await credential(e, { probeImds: true }).getToken("https://management.azure.com/.default");
      const [probe, ...rest] = imds.requests;
      assert.equal(probe!.method, "GET");
      assert.equal(probe!.target, "/metadata/identity/oauth2/token");
      assert.equal(probe!.header("metadata"), undefined);
      assert.equal(probe!.header("accept"), "application/json");
      assert.equal(rest.length, 3);
      assert.ok(rest.every((r) => r.header("metadata") === "true"));
    } finally {
      await imds.close();
    }
  });

  it("concurrent calls for many resources share one probe (IMDS allows 5 concurrent requests)", async () => {
    const imds = await startFakeImds();
    try {
      const e = safeEnv(imds.env);
      const a = credential(e, { probeImds: true });
      const b = credential(e, { probeImds: true });
      const scopes = Array.from({ length: 100 }, (_, i) => `https://r${i % 10}.example/.default`);
      await Promise.all([...scopes.map((s) => a.getToken(s)), ...scopes.map((s) => b.getToken(s))]);
      assert.equal(imds.requests.filter((r) => r.header("metadata") === undefined).length, 1);
      assert.equal(imds.tokenRequests().length, 20);
    } finally {
      await imds.close();
    }
  });

  it("checklist 23: standalone (probeImds unset) sends no probe", async () => {
    const imds = await startFakeImds();
    try {
      await credential(safeEnv(imds.env)).getToken(VAULT);
      assert.equal(imds.requests.length, 1);
      assert.equal(imds.requests[0]!.header("metadata"), "true");
    } finally {
      await imds.close();
    }
  });

  const negatives: Array<[string, Parameters<typeof startFakeImds>[0], RegExp]> = [
    ["Docker Desktop 403 text", { probeAnswer: DOCKER }, /answered 403 with "connecting to 169\.254\.169\.254:80: .*…" \(Docker Desktop's network answering\), which is not IMDS/],
    ["a proxy's HTML 400", { probeAnswer: { status: 400, headers: { "Content-Type": "text/html" }, body: "<html><body><h1>400 Bad Request</h1></body></html>" } }, /answered 400 with "<html><body><h1>400 Bad Request<\/h1><\/body><\/html>", which is not IMDS/],
    ["a JSON answer without error", { probeAnswer: json(400, { message: "not here" }) }, /answered 400 with "\{"message":"not here"\}", which is not IMDS/],
    ["an empty 200", { probeAnswer: { status: 200, body: "" } }, /answered 200 with empty body, which is not IMDS/],
  ];
  for (const [name, options, reason] of negatives) {
    it(`negative (checklist 21, stricter on purpose: only IMDS-shaped JSON counts): ${name} ⇒ ERR_MI_PROBE_NEGATIVE, no token request`, async () => {
      const imds = await startFakeImds(options);
      try {
        const err = await rejection(credential(safeEnv(imds.env), { probeImds: true }).getToken(VAULT));
        assert.equal(err.name, "CredentialUnavailableError");
        assert.equal(err.code, "ERR_MI_PROBE_NEGATIVE");
        assert.ok(err.message.startsWith(`ManagedIdentityCredential: IMDS at 127.0.0.1:${imds.port} is not available (probe: `), err.message);
        assert.match(err.message, reason);
        assert.equal(imds.tokenRequests().length, 0);
      } finally {
        await imds.close();
      }
    });
  }

  it("negative: refused port answers at connect level", async () => {
    const port = await closedPort();
    const err = await rejection(credential(safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` }), { probeImds: true }).getToken(VAULT));
    assert.equal(err.code, "ERR_MI_PROBE_NEGATIVE");
    assert.match(err.message, /\(probe: connect ECONNREFUSED in [\d.]+ ms\)/);
  });

  it("a refused connect is not remembered: the endpoint started a moment later (azmi serve after a first try) answers the next process at once", async () => {
    const port = await closedPort();
    const e = safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: `http://127.0.0.1:${port}` });
    const err = await rejection(credential(e, { probeImds: true }).getToken(VAULT));
    assert.equal(err.code, "ERR_MI_PROBE_NEGATIVE");
    assert.ok(!fs.existsSync(path.join(e.AZMI_HOME!, PROBE_MEMO_FILE)), "nothing written for a refusal");
    const imds = await startFakeImds({ port });
    try {
      // The same process (in-process memo) and a new one (file memo) both probe again and get a token.
      await credential(e, { probeImds: true }).getToken(VAULT);
      clearProcessProbeMemo();
      await credential(e, { probeImds: true }).getToken("https://storage.azure.com/.default");
      assert.equal(imds.tokenRequests().length, 2);
    } finally {
      await imds.close();
    }
  });

  it("negative: a server that never answers costs at most the probe budget", async () => {
    const server = await startRawServer(() => ({ hang: true }));
    try {
      const started = performance.now();
      const err = await rejection(credential(safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: server.url }), { probeImds: true, probeBudgetMs: 200 }).getToken(VAULT));
      assert.equal(err.code, "ERR_MI_PROBE_NEGATIVE");
      assert.match(err.message, /HTTP probe headers ETIMEDOUT|HTTP probe .*ETIMEDOUT/);
      assert.ok(performance.now() - started < 3 * 200 + 300);
    } finally {
      await server.close();
    }
  });

  it("an absence that may pass is not remembered: a 503 answer, a slow answer, or a probe the call's own budget cut short; the next credential probes again and finds IMDS", async () => {
    // A 503 to the probe, then the real answer: the error says so, is marked as passing, and nothing is remembered.
    let probes = 0;
    const server = await startRawServer((req) => {
      if (req.header("metadata") !== undefined) return { status: 200, headers: { "Content-Type": "application/json" }, body: "{}" };
      probes++;
      return probes === 1 ? json(503, { error: "busy" }) : json(400, { error: "bad_request_102", error_description: "Required metadata header not specified" });
    });
    try {
      const e = safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: server.url });
      const first = await rejection(credential(e, { probeImds: true }).getToken(VAULT));
      assert.equal(first.code, "ERR_MI_PROBE_NEGATIVE");
      assert.equal((first as { transient?: boolean }).transient, true, "a 503 may pass");
      assert.ok(!fs.existsSync(path.join(e.AZMI_HOME!, PROBE_MEMO_FILE)), "not remembered in the file");
      clearProcessProbeMemo();
      // The next credential (or process) probes again; the probe now says IMDS (its token request then gets "{}", not a token: that error is not the probe's).
      const second = await rejection(credential(e, { probeImds: true }).getToken(VAULT));
      assert.notEqual(second.code, "ERR_MI_PROBE_NEGATIVE");
      assert.equal(probes, 2);
    } finally {
      await server.close();
    }
    // A probe cut short by the call's own budget (requestOptions.timeout smaller than the probe budget) proves nothing lasting.
    const slow = await startRawServer(() => ({ hang: true }));
    try {
      const e = safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: slow.url });
      const cut = await rejection(credential(e, { probeImds: true, probeBudgetMs: 1000 }).getToken(VAULT, { requestOptions: { timeout: 150 } }));
      assert.ok(cut, "the call failed");
      assert.ok(!fs.existsSync(path.join(e.AZMI_HOME!, PROBE_MEMO_FILE)), "a probe cut short is not remembered");
    } finally {
      await slow.close();
    }
  });

  it("a negative result is remembered in a 0600 file and reused by the next process", async () => {
    const imds = await startFakeImds({ probeAnswer: DOCKER });
    try {
      const e = safeEnv(imds.env);
      await rejection(credential(e, { probeImds: true }).getToken(VAULT));
      assert.equal(imds.requests.length, 1);
      const file = path.join(e.AZMI_HOME!, PROBE_MEMO_FILE);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const memo = JSON.parse(fs.readFileSync(file, "utf8"));
      const [key, entry] = Object.entries(memo.entries)[0] as [string, { present: boolean; endpoint: string }];
      assert.equal(key, `127.0.0.1:${imds.port}|${networkFingerprint()}`);
      assert.equal(entry.present, false);
      assert.equal(entry.endpoint, `127.0.0.1:${imds.port}`);

      clearProcessProbeMemo(); // as if a new process started
      const err = await rejection(credential(e, { probeImds: true }).getToken(VAULT));
      // Answered from the file, not by a second probe: the message says so and the fake saw no new request.
      assert.equal(err.code, "ERR_MI_PROBE_NEGATIVE");
      assert.match(err.message, /Remembered from a probe at \d{4}-\d\d-\d\dT[^;]*; it is repeated 5 min \(AZMI_PROBE_MEMO_TTL_MS\) after it, or when the network changes \(delete .*probe-memo\.json to re-probe now\)\.$/);
      assert.equal(imds.requests.length, 1, "no second probe");
    } finally {
      await imds.close();
    }
  });

  it("the memo expires after AZMI_PROBE_MEMO_TTL_MS and is off with 0", async () => {
    const imds = await startFakeImds({ probeAnswer: DOCKER });
    try {
      const e = safeEnv({ ...imds.env, AZMI_PROBE_MEMO_TTL_MS: "40" });
      await rejection(credential(e, { probeImds: true }).getToken(VAULT));
      await new Promise((r) => setTimeout(r, 60));
      clearProcessProbeMemo();
      await rejection(credential(e, { probeImds: true }).getToken(VAULT));
      assert.equal(imds.requests.length, 2);
      const off = safeEnv({ ...imds.env, AZMI_PROBE_MEMO_TTL_MS: "0" });
      await rejection(credential(off, { probeImds: true }).getToken(VAULT));
      await rejection(credential(off, { probeImds: true }).getToken(VAULT));
      assert.equal(imds.requests.length, 4);
      assert.ok(!fs.existsSync(path.join(off.AZMI_HOME!, PROBE_MEMO_FILE)));
    } finally {
      await imds.close();
    }
  });

  it("an entry from another network configuration is ignored", async () => {
    const imds = await startFakeImds();
    try {
      const e = safeEnv(imds.env);
      fs.writeFileSync(
        path.join(e.AZMI_HOME!, PROBE_MEMO_FILE),
        JSON.stringify({ version: 1, entries: { [`127.0.0.1:${imds.port}|0000000000000000`]: { present: false, at: Date.now(), reason: "old network", endpoint: `127.0.0.1:${imds.port}` } } }),
      );
      await credential(e, { probeImds: true }).getToken(VAULT);
      assert.equal(imds.requests.length, 2);
    } finally {
      await imds.close();
    }
  });

  it("HTTP_PROXY / HTTPS_PROXY pointing at a dead port have no effect", async () => {
    const port = await closedPort();
    env.set({ HTTP_PROXY: `http://127.0.0.1:${port}`, http_proxy: `http://127.0.0.1:${port}`, HTTPS_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: "" });
    const imds = await startFakeImds();
    try {
      const t = await credential(safeEnv(imds.env), { probeImds: true }).getToken(VAULT);
      assert.equal(t.token, imds.issued[0]);
    } finally {
      await imds.close();
    }
  });
});
