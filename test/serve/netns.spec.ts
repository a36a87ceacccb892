/**
 * Issue 6 §4, "requests from a non-loopback address when bound to loopback":
 * two network namespaces A and B joined by a veth pair with TEST-NET-1
 * addresses (192.0.2.1/24 in A, 192.0.2.2/24 in B — a documentation range that
 * exists only inside these namespaces, so no packet leaves them). The server
 * runs in A (test/serve/netns/serverMain.ts), clients run in A or B
 * (test/serve/netns/requestMain.ts).
 *
 * - Bound to 127.0.0.1: from B, 192.0.2.1:<port> is refused (nothing listens
 *   on that address); from A, 127.0.0.1:<port> answers.
 * - Bound to 0.0.0.0: the warning about a non-loopback host is emitted; from B
 *   the App Service dialect still needs its secret (401 without, 403 wrong,
 *   200 right); IMDS needs `Metadata: true` but — as server.ts documents
 *   (`loopbackOnly`) — a server deliberately bound to a non-loopback host does
 *   NOT apply the DNS-rebinding Host check, so any Host name is served. Bound
 *   to loopback, the same foreign Host name is refused with 400.
 *
 * Skipped (with the reason printed) only where namespaces cannot be created.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Netns, skipWithoutNetns, type NetnsProcess } from "../netns/harness";

const A_IP = "192.0.2.1";
const B_IP = "192.0.2.2";
const SERVER = path.join(__dirname, "netns", "serverMain.js");
const CLIENT = path.join(__dirname, "netns", "requestMain.js");
const IMDS_QUERY = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/";
const APP_SERVICE_QUERY = "/msi/token?api-version=2019-08-01&resource=https://management.azure.com/";

interface Started {
  proc: NetnsProcess;
  port: number;
  host: string;
  appServiceSecret: string;
  warnings: string[];
}

interface Outcome {
  status?: number;
  body?: string;
  error?: string;
}

function ip(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${(r.stderr || r.error?.message || "").trim()}`);
}

describe("serve: reachability across network namespaces (veth, TEST-NET-1)", function () {
  this.timeout(60000);
  let a: Netns | undefined;
  let b: Netns | undefined;
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    skipWithoutNetns(this);
    home = fs.mkdtempSync(path.join(os.tmpdir(), "azmi-netns-serve-"));
    // The server only needs AZMI_HOME (issuer key); the clients need nothing. Never inherit identity vars.
    env = { PATH: process.env.PATH, HOME: home, AZMI_HOME: home };
    a = await Netns.create({ prefix: "azmi" });
    b = await Netns.create({ prefix: "azmi" });
    // The veth is created in A with its peer moved straight into B: it never exists in the host namespace.
    ip(["-n", a.name, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b.name]);
    ip(["-n", a.name, "addr", "add", `${A_IP}/24`, "dev", "va"]);
    ip(["-n", b.name, "addr", "add", `${B_IP}/24`, "dev", "vb"]);
    ip(["-n", a.name, "link", "set", "va", "up"]);
    ip(["-n", b.name, "link", "set", "vb", "up"]);
  });

  after(async function () {
    await a?.destroy();
    await b?.destroy();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  async function startIn(ns: Netns, host: string): Promise<Started> {
    const proc = ns.spawnNode([SERVER, host], { env });
    const line = await proc.waitForOutput(/^\{.*\}$/m, 20000);
    return { proc, ...(JSON.parse(line) as Omit<Started, "proc">) };
  }

  async function request(ns: Netns, target: { ip: string; port: number; path: string; headers?: Record<string, string> }): Promise<Outcome> {
    const r = await ns.runNode([CLIENT, JSON.stringify(target)], { env, timeoutMs: 20000 });
    assert.equal(r.code, 0, `client failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim()) as Outcome;
  }

  it("the veth link works: B reaches a listener on A's 192.0.2.1 (sanity for the refusals below)", async function () {
    // Use the server itself bound to A's veth address, so the later "refused" is about binding, not routing.
    const s = await startIn(a!, A_IP);
    try {
      const r = await request(b!, { ip: A_IP, port: s.port, path: IMDS_QUERY, headers: { Metadata: "true" } });
      assert.equal(r.status, 200, JSON.stringify({ status: r.status, error: r.error }));
    } finally {
      await s.proc.stop();
    }
  });

  describe("bound to 127.0.0.1 in A", function () {
    let s: Started;
    before(async function () {
      s = await startIn(a!, "127.0.0.1");
    });
    after(async function () {
      await s?.proc.stop();
    });

    it("emits no non-loopback warning", function () {
      assert.equal(s.host, "127.0.0.1");
      assert.deepEqual(s.warnings, []);
    });

    it("from B, 192.0.2.1:<port> is refused (ECONNREFUSED: nothing listens there)", async function () {
      const r = await request(b!, { ip: A_IP, port: s.port, path: IMDS_QUERY, headers: { Metadata: "true" } });
      assert.deepEqual(r, { error: "ECONNREFUSED" });
    });

    it("from A, 127.0.0.1:<port> serves the same IMDS request", async function () {
      const r = await request(a!, { ip: "127.0.0.1", port: s.port, path: IMDS_QUERY, headers: { Metadata: "true" } });
      assert.equal(r.status, 200);
      const body = JSON.parse(r.body!) as Record<string, string>;
      assert.equal(body.resource, "https://management.azure.com/");
      assert.equal(typeof body.access_token, "string");
    });

    it("from A, a foreign Host name is refused with 400 (DNS-rebinding check is on for loopback)", async function () {
      const r = await request(a!, { ip: "127.0.0.1", port: s.port, path: IMDS_QUERY, headers: { Metadata: "true", Host: "evil.example" } });
      assert.equal(r.status, 400);
      assert.match(JSON.parse(r.body!).error_description as string, /Host header must name this machine/);
    });
  });

  describe("bound to 0.0.0.0 in A", function () {
    let s: Started;
    before(async function () {
      s = await startIn(a!, "0.0.0.0");
    });
    after(async function () {
      await s?.proc.stop();
    });

    it("warns that the server is reachable from other machines", function () {
      assert.equal(s.warnings.length, 1, JSON.stringify(s.warnings));
      assert.match(s.warnings[0]!, new RegExp(`listening on 0\\.0\\.0\\.0:${s.port}: it is reachable from other machines/containers`));
      assert.ok(!s.warnings[0]!.includes(s.appServiceSecret), "the warning must not contain the secret");
    });

    it("App Service from B without the secret: 401", async function () {
      const r = await request(b!, { ip: A_IP, port: s.port, path: APP_SERVICE_QUERY });
      assert.equal(r.status, 401);
      const body = JSON.parse(r.body!) as Record<string, unknown>;
      assert.equal(body.statusCode, 401);
      assert.match(body.message as string, /header is missing/);
    });

    it("App Service from B with a wrong secret: 403, secret not echoed", async function () {
      const wrong = "0".repeat(s.appServiceSecret.length);
      const r = await request(b!, { ip: A_IP, port: s.port, path: APP_SERVICE_QUERY, headers: { "X-IDENTITY-HEADER": wrong } });
      assert.equal(r.status, 403);
      const body = JSON.parse(r.body!) as Record<string, unknown>;
      assert.equal(body.statusCode, 403);
      assert.match(body.message as string, /does not match/);
      assert.ok(!r.body!.includes(wrong) && !r.body!.includes(s.appServiceSecret));
    });

    it("App Service from B with the right secret: 200", async function () {
      const r = await request(b!, { ip: A_IP, port: s.port, path: APP_SERVICE_QUERY, headers: { "X-IDENTITY-HEADER": s.appServiceSecret } });
      assert.equal(r.status, 200);
      assert.equal(typeof (JSON.parse(r.body!) as Record<string, string>).access_token, "string");
    });

    it("IMDS from B without Metadata: 400 (the header rule still holds)", async function () {
      const r = await request(b!, { ip: A_IP, port: s.port, path: IMDS_QUERY });
      assert.equal(r.status, 400);
    });

    it("IMDS from B with Metadata: 200 for Host 192.0.2.1:<port> and host.docker.internal, 400 for a foreign name (DNS rebinding)", async function () {
      for (const host of [`${A_IP}:${s.port}`, `host.docker.internal:${s.port}`]) {
        const r = await request(b!, { ip: A_IP, port: s.port, path: IMDS_QUERY, headers: { Metadata: "true", Host: host } });
        assert.equal(r.status, 200, `Host ${host}: ${r.status ?? r.error}`);
        assert.equal((JSON.parse(r.body!) as Record<string, string>).resource, "https://management.azure.com/");
      }
      const foreign = await request(b!, { ip: A_IP, port: s.port, path: IMDS_QUERY, headers: { Metadata: "true", Host: "evil.example" } });
      assert.equal(foreign.status, 400, `Host evil.example: ${foreign.status ?? foreign.error}`);
    });
  });
});
